//! The canonical person: SCIM 2.0 core User plus the Enterprise User extension
//! (RFC 7643), flattened, with HR attributes. Values are already validated.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::ids::ExternalId;

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
}

impl Name {
    pub fn is_empty(&self) -> bool {
        self == &Name::default()
    }
}

/// A multi-valued SCIM attribute entry (`emails`, `phoneNumbers`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub value: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primary: bool,
}

/// One person as the directory stores it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub external_id: ExternalId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Name::is_empty")]
    pub name: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<Contact>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phone_numbers: Vec<Contact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// The manager's external id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<ExternalId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employment_status: Option<String>,
    #[serde(default, with = "iso_date::option", skip_serializing_if = "Option::is_none")]
    pub hire_date: Option<Date>,
    #[serde(default, with = "iso_date::option", skip_serializing_if = "Option::is_none")]
    pub termination_date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_attributes: BTreeMap<String, serde_json::Value>,
}

impl Person {
    /// A person with only a key; the other attributes empty.
    pub fn new(external_id: ExternalId) -> Self {
        Self {
            external_id,
            user_name: None,
            name: Name::default(),
            display_name: None,
            emails: Vec::new(),
            phone_numbers: Vec::new(),
            title: None,
            active: true,
            employee_number: None,
            cost_center: None,
            organization: None,
            division: None,
            department: None,
            manager: None,
            employment_status: None,
            hire_date: None,
            termination_date: None,
            location: None,
            custom_attributes: BTreeMap::new(),
        }
    }

    /// Names of the top-level attributes that differ between `self` and
    /// `other`, in the camelCase spelling of the API.
    pub fn changed_fields(&self, other: &Person) -> Vec<&'static str> {
        let mut out = Vec::new();
        macro_rules! cmp {
            ($($field:ident => $name:literal),* $(,)?) => {
                $( if self.$field != other.$field { out.push($name); } )*
            };
        }
        cmp!(
            user_name => "userName",
            name => "name",
            display_name => "displayName",
            emails => "emails",
            phone_numbers => "phoneNumbers",
            title => "title",
            active => "active",
            employee_number => "employeeNumber",
            cost_center => "costCenter",
            organization => "organization",
            division => "division",
            department => "department",
            manager => "manager",
            employment_status => "employmentStatus",
            hire_date => "hireDate",
            termination_date => "terminationDate",
            location => "location",
            custom_attributes => "customAttributes",
        );
        out
    }
}

/// Person attributes are personal data: `Debug` names which attributes are
/// present, never their values.
impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Person").field("active", &self.active).field("attributes", &"<redacted>").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Person {
        let mut p = Person::new(ExternalId::parse("E1").unwrap());
        p.name.given_name = Some("Alice".into());
        p.department = Some("Finance".into());
        p
    }

    #[test]
    fn changed_fields_names_what_differs() {
        let a = alice();
        let mut b = a.clone();
        assert!(a.changed_fields(&b).is_empty());
        b.department = Some("Sales".into());
        b.title = Some("Analyst".into());
        assert_eq!(a.changed_fields(&b), vec!["title", "department"]);
    }

    #[test]
    fn debug_never_shows_values() {
        let shown = format!("{:?}", alice());
        assert!(!shown.contains("Alice"));
        assert!(!shown.contains("Finance"));
    }

    #[test]
    fn serializes_in_scim_spelling() {
        let mut p = alice();
        p.hire_date = Some(time::macros::date!(2024 - 02 - 29));
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["externalId"], "E1");
        assert_eq!(v["name"]["givenName"], "Alice");
        assert_eq!(v["hireDate"], "2024-02-29");
        let back: Person = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }
}
