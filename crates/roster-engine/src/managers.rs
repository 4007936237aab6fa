//! Managers named by e-mail address or employee number (a source's
//! `managerBy`), as HR exports often name them: resolved at ingest to the
//! manager's external id — from the same feed first, else from the
//! directory — so that every queued change names its manager as the
//! directory stores it. A manager found nowhere (or more than once) is a
//! warning naming the record and the field, and the person's stored manager
//! is kept: one unknown address must not reject a record or clear a
//! reporting line.

use std::collections::{HashMap, HashSet};

use roster_core::validate::ValidRecord;
use roster_core::{Change, ExternalId, TenantId};
use roster_store::{IngestStore, ManagerBy, PersonKey, StoreError};

/// Warnings listed one by one before the rest are only counted.
const MAX_LISTED: usize = 20;

/// Where a record is in its submission, for warnings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    pub index: usize,
    /// The CSV row, when the format has rows.
    pub row: Option<u64>,
}

/// One feed's managers lookup: the keys of the people the feed itself holds.
pub(crate) struct Managers {
    key: PersonKey,
    /// Value → the feed's person who has it; `None` when several have it.
    in_feed: HashMap<String, Option<ExternalId>>,
    /// Records whose manager was not resolved, over the whole feed.
    unresolved: usize,
}

/// Why a record's manager was not resolved.
enum Unresolved {
    NoOne,
    Several,
    Themself,
}

impl Managers {
    /// `None` for a source whose records name managers by external id.
    pub fn new(by: ManagerBy) -> Option<Self> {
        by.key().map(|key| Self { key, in_feed: HashMap::new(), unresolved: 0 })
    }

    fn normalise(&self, value: &str) -> String {
        match self.key {
            PersonKey::Email => value.trim().to_lowercase(),
            PersonKey::EmployeeNumber => value.trim().to_owned(),
        }
    }

    fn key_name(&self) -> &'static str {
        match self.key {
            PersonKey::Email => "e-mail address",
            PersonKey::EmployeeNumber => "employee number",
        }
    }

    /// Notes the keys of one of the feed's records (before resolving any
    /// manager that may name them).
    pub fn note(&mut self, record: &ValidRecord) {
        let Change::Upsert { person } = &record.change else { return };
        let values: Vec<String> = match self.key {
            PersonKey::Email => person.emails.iter().map(|e| self.normalise(&e.value)).collect(),
            PersonKey::EmployeeNumber => person.employee_number.iter().map(|n| self.normalise(n)).collect(),
        };
        for value in values.into_iter().filter(|v| !v.is_empty()) {
            let id = &person.external_id;
            self.in_feed
                .entry(value)
                .and_modify(|seen| {
                    if seen.as_ref() != Some(id) {
                        *seen = None;
                    }
                })
                .or_insert_with(|| Some(id.clone()));
        }
    }

    /// Replaces each record's `manager` (an e-mail address or employee
    /// number) by the manager's external id; returns the warnings. Records
    /// must have been [noted](Self::note) first.
    pub async fn resolve(
        &mut self,
        store: &dyn IngestStore,
        tenant: TenantId,
        records: &mut [(At, &mut ValidRecord)],
    ) -> Result<Vec<String>, StoreError> {
        // The values the feed does not answer, asked of the directory at once.
        let mut ask: HashSet<String> = HashSet::new();
        for (_, record) in records.iter() {
            if let Change::Upsert { person } = &record.change
                && let Some(manager) = &person.manager
            {
                let value = self.normalise(manager.as_str());
                if !self.in_feed.contains_key(&value) {
                    ask.insert(value);
                }
            }
        }
        let mut in_directory: HashMap<String, Vec<ExternalId>> = HashMap::new();
        if !ask.is_empty() {
            for (value, id) in store.people_by_key(tenant, self.key, ask.into_iter().collect()).await? {
                let ids = in_directory.entry(value).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        let mut missed: Vec<(At, ExternalId, Unresolved)> = Vec::new();
        for (at, record) in records.iter_mut() {
            let Change::Upsert { person } = &mut record.change else { continue };
            let Some(manager) = &person.manager else { continue };
            let value = self.normalise(manager.as_str());
            let found = match self.in_feed.get(&value) {
                Some(Some(id)) => Ok(id.clone()),
                Some(None) => Err(Unresolved::Several),
                None => match in_directory.get(&value).map(Vec::as_slice) {
                    Some([id]) => Ok(id.clone()),
                    Some([_, _, ..]) => Err(Unresolved::Several),
                    _ => Err(Unresolved::NoOne),
                },
            };
            match found {
                Ok(id) if id == person.external_id => {
                    missed.push((*at, person.external_id.clone(), Unresolved::Themself));
                }
                Ok(id) => person.manager = Some(id),
                Err(why) => missed.push((*at, person.external_id.clone(), why)),
            }
        }
        if missed.is_empty() {
            return Ok(Vec::new());
        }
        // Unresolved: the stored manager stays (none for someone new).
        let stored: HashMap<ExternalId, ExternalId> = store
            .managers_of(tenant, missed.iter().map(|(_, id, _)| id.clone()).collect())
            .await?
            .into_iter()
            .collect();
        let unresolved: HashSet<&ExternalId> = missed.iter().map(|(_, id, _)| id).collect();
        for (_, record) in records.iter_mut() {
            if let Change::Upsert { person } = &mut record.change
                && unresolved.contains(&person.external_id)
            {
                person.manager = stored.get(&person.external_id).cloned();
            }
        }
        let mut warnings = Vec::new();
        for (at, _, why) in &missed {
            self.unresolved += 1;
            if self.unresolved > MAX_LISTED {
                continue;
            }
            // The record and the field only: the value is personal data.
            let place = match at.row {
                Some(row) => format!("record {} (row {row})", at.index),
                None => format!("record {}", at.index),
            };
            let what = match why {
                Unresolved::NoOne => {
                    format!("matches no person by {} in this feed or the directory", self.key_name())
                }
                Unresolved::Several => format!("matches more than one person by {}", self.key_name()),
                Unresolved::Themself => "names the person themself".to_owned(),
            };
            warnings.push(format!("{place}: `manager` {what}; the stored manager is kept"));
        }
        Ok(warnings)
    }

    /// The closing warning when more were unresolved than listed.
    pub fn summary(&self) -> Option<String> {
        (self.unresolved > MAX_LISTED).then(|| {
            format!(
                "{} more records' `manager` could not be resolved by {} (only the first {MAX_LISTED} are listed); their stored managers are kept",
                self.unresolved - MAX_LISTED,
                self.key_name()
            )
        })
    }
}
