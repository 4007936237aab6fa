-- Each alarm rule's state (AlarmStateStore), so the node that takes the
-- `alarms` lease over goes on from it instead of notifying a breach again.
-- `version` is what a write compares-and-sets: of two evaluators that saw
-- the same version, one moves it on.
CREATE TABLE alarm_states (
    rule        text PRIMARY KEY,
    state       text NOT NULL,
    since       bigint NOT NULL,
    reason      text NOT NULL,
    notified_at bigint NOT NULL,
    version     bigint NOT NULL
);
