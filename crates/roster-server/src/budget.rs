//! Budgets of what requests may hold at once — streamed uploads, bytes of
//! bodies read whole — globally and per tenant, so one tenant cannot take
//! what every tenant shares. A budget is taken without waiting: over it the
//! request is refused at once (`429` when the tenant is over its share,
//! `503` when the node is), never queued where it would hold a connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, header};
use roster_core::TenantId;

/// A request's declared `Content-Length`: what reading its body whole
/// reserves of the bodies' budget (the body limit when it is absent).
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
}

/// Why a budget was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The tenant holds its whole share already.
    Tenant,
    /// The node holds its whole budget already.
    Global,
}

#[derive(Default)]
struct Held {
    total: u64,
    per_tenant: HashMap<TenantId, u64>,
}

/// A budget of some unit (uploads, bytes): `global` across all tenants,
/// `per_tenant` for each.
pub struct Budget {
    global: u64,
    per_tenant: u64,
    held: Mutex<Held>,
}

impl Budget {
    pub fn new(global: u64, per_tenant: u64) -> Arc<Self> {
        Arc::new(Self { global, per_tenant: per_tenant.min(global), held: Mutex::new(Held::default()) })
    }

    /// Takes `amount` for `tenant`, or says whose budget is spent. The
    /// tenant's share is checked first, so a tenant over it is told to slow
    /// down (`429`) rather than that the node is full.
    pub fn try_take(self: &Arc<Self>, tenant: TenantId, amount: u64) -> Result<BudgetGuard, Refused> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let mine = held.per_tenant.get(&tenant).copied().unwrap_or(0);
        if mine.saturating_add(amount) > self.per_tenant {
            return Err(Refused::Tenant);
        }
        if held.total.saturating_add(amount) > self.global {
            return Err(Refused::Global);
        }
        held.total += amount;
        *held.per_tenant.entry(tenant).or_insert(0) += amount;
        Ok(BudgetGuard { budget: Arc::clone(self), tenant, amount })
    }

    /// What is held now, in all.
    pub fn in_use(&self) -> u64 {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

/// A part of a [`Budget`], given back when dropped.
pub struct BudgetGuard {
    budget: Arc<Budget>,
    tenant: TenantId,
    amount: u64,
}

impl Drop for BudgetGuard {
    fn drop(&mut self) {
        let mut held = self.budget.held.lock().unwrap_or_else(|p| p.into_inner());
        held.total = held.total.saturating_sub(self.amount);
        if let Some(mine) = held.per_tenant.get_mut(&self.tenant) {
            *mine = mine.saturating_sub(self.amount);
            if *mine == 0 {
                held.per_tenant.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_is_held_to_its_share_and_all_to_the_global_budget() {
        let budget = Budget::new(3, 2);
        let (a, b, c) = (TenantId::new(), TenantId::new(), TenantId::new());
        let a1 = budget.try_take(a, 1).unwrap();
        let _a2 = budget.try_take(a, 1).unwrap();
        assert_eq!(budget.try_take(a, 1).err(), Some(Refused::Tenant));
        let _b1 = budget.try_take(b, 1).unwrap();
        assert_eq!(budget.try_take(c, 1).err(), Some(Refused::Global));
        assert_eq!(budget.in_use(), 3);
        drop(a1);
        assert_eq!(budget.in_use(), 2);
        let _c1 = budget.try_take(c, 1).expect("a dropped guard gives its part back");
        assert_eq!(budget.try_take(a, 5).err(), Some(Refused::Tenant), "more than a share at once");
    }
}
