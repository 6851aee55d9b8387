-- lab: the arrival rate at which each case's before state shows the book's before shape on this machine,
-- found by `shoplab calibrate` and used by `shoplab case N --compare` when no --rate is given.
-- one row per calibration run; the newest row of a case is the one in use, older rows are its history.
create table lab.calibrations (
    id             bigserial primary key,
    case_no        smallint not null check (case_no between 1 and 3),
    rate           integer not null check (rate > 0),
    -- what the probe at that rate measured (p95, p99, error rate, ...) and the search that led there
    measured       jsonb not null,
    -- where it was measured: host name, cores; a rate from another machine means little
    machine        jsonb not null,
    calibrated_at  timestamptz not null default now()
);
create index calibrations_case_idx on lab.calibrations (case_no, calibrated_at desc);
