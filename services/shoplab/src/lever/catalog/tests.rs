//! The catalogue's consistency with the registry, the k6 scripts and the lab's processes.

use super::*;
use std::path::Path;

fn k6_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../k6")
}

#[test]
fn every_lever_has_one_entry_and_every_entry_a_lever() {
    for f in kit::flags::FLAGS.iter().filter(|f| f.after.is_some()) {
        assert_eq!(ENTRIES.iter().filter(|e| e.flag == f.name).count(), 1, "{} needs exactly one entry", f.name);
    }
    for e in ENTRIES {
        let def = kit::flags::find(e.flag).unwrap_or_else(|| panic!("{} is not a registered flag", e.flag));
        assert!(def.after.is_some(), "{} has no after value: a knob, not a lever", e.flag);
        assert!(!e.rows.is_empty() && !e.processes.is_empty(), "{} shows no rows or talks to nothing", e.flag);
    }
}

#[test]
fn awaiting_entries_name_flags_not_registered_yet() {
    for e in AWAITING {
        assert!(kit::flags::find(e.flag).is_none(), "{} is registered now: move its entry into ENTRIES", e.flag);
        assert!(!ENTRIES.iter().any(|x| x.flag == e.flag), "{} is in both lists", e.flag);
    }
}

#[test]
fn every_scenario_exists_or_is_pending() {
    for e in ENTRIES {
        let there = k6_dir().join(e.scenario).exists();
        if pending(e) {
            assert!(!there, "k6/{} has landed: remove it from PENDING", e.scenario);
        } else {
            assert!(there, "k6/{} is missing (and not listed as pending)", e.scenario);
        }
    }
    for p in PENDING {
        assert!(ENTRIES.iter().any(|e| e.scenario == *p), "PENDING names {p}, which no entry uses");
    }
}

#[test]
fn every_process_is_one_the_lab_runs() {
    let names: Vec<String> = crate::stack::processes_at(1, 0).into_iter().map(|p| p.name).collect();
    for e in ENTRIES {
        for p in e.processes {
            assert!(names.iter().any(|n| n == p), "{}: unknown process {p}", e.flag);
        }
    }
}
