//! Tests of the breaker: the pure state machine's transitions (time passed in, no sleeping) and the
//! shared breaker's handling of calls that are cancelled mid-flight.

use super::*;

fn cfg() -> BreakerConfig {
    BreakerConfig {
        failure_rate: 0.5,
        window: Duration::from_secs(10),
        min_calls: 4,
        open_for: Duration::from_secs(30),
        half_open_probes: 2,
    }
}

fn call(b: &mut Breaker, ok: bool, now: Instant) -> Option<State> {
    let permit = b.try_acquire(now).expect("permitted");
    b.record(permit, ok, now)
}

fn fail_n(b: &mut Breaker, n: usize, now: Instant) {
    for _ in 0..n {
        call(b, false, now);
    }
}

#[test]
fn opens_at_the_failure_rate_once_the_minimum_volume_is_reached() {
    let (mut b, t) = (Breaker::new(cfg()), Instant::now());
    assert_eq!(call(&mut b, false, t), None, "1 call: below minimum volume");
    assert_eq!(call(&mut b, false, t), None);
    assert_eq!(call(&mut b, true, t), None);
    assert_eq!(call(&mut b, true, t), Some(State::Open), "2 of 4 failed = 50 %");
    assert_eq!(b.try_acquire(t + Duration::from_secs(29)), None, "open fails fast");
}

#[test]
fn permit_in_tells_waiters_when_a_call_could_go_through() {
    let (mut b, t) = (Breaker::new(cfg()), Instant::now());
    assert_eq!(b.permit_in(t), None, "closed: now");
    fail_n(&mut b, 4, t);
    assert_eq!(b.permit_in(t + Duration::from_secs(10)), Some(Duration::from_secs(20)), "open: until the recovery window ends");
    let after = t + Duration::from_secs(30);
    assert_eq!(b.permit_in(after), None, "the window is over: a probe may go");
    let (p1, p2) = (b.try_acquire(after).unwrap(), b.try_acquire(after).unwrap());
    assert_eq!(b.permit_in(after), Some(PROBE_POLL), "both probes out: wait for their outcome");
    b.record(p1, true, after);
    b.record(p2, true, after);
    assert_eq!(b.permit_in(after), None, "closed again");
}

#[test]
fn half_open_probes_are_judged_by_the_failure_rate() {
    // 5 probes at 50 %: 2 failures are tolerated, the 3rd reopens; 3 successes close
    let c = BreakerConfig { half_open_probes: 5, ..cfg() };
    let (mut b, t) = (Breaker::new(c), Instant::now());
    fail_n(&mut b, 4, t);
    let after = t + Duration::from_secs(30);
    assert_eq!(call(&mut b, false, after), None, "1 failed probe of 5: still deciding");
    assert_eq!(call(&mut b, true, after), None);
    assert_eq!(call(&mut b, false, after), None, "2 failed: tolerated");
    assert_eq!(call(&mut b, true, after), None);
    assert_eq!(call(&mut b, true, after), Some(State::Closed), "3 of 5 succeeded: below 50 % failures");

    let (mut b, t) = (Breaker::new(c), Instant::now());
    fail_n(&mut b, 4, t);
    let after = t + Duration::from_secs(30);
    assert_eq!(call(&mut b, true, after), None);
    assert_eq!(call(&mut b, false, after), None);
    assert_eq!(call(&mut b, false, after), None);
    assert_eq!(call(&mut b, false, after), Some(State::Open), "3 of 5 failed: open again");
    assert_eq!(b.permit_in(after), Some(Duration::from_secs(30)), "for another recovery window");
}

#[test]
fn old_outcomes_leave_the_window() {
    let (mut b, t) = (Breaker::new(cfg()), Instant::now());
    fail_n(&mut b, 3, t);
    let later = t + Duration::from_secs(11);
    assert_eq!(call(&mut b, true, later), None, "the 3 failures expired");
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn half_open_closes_after_enough_successful_probes() {
    let (mut b, t) = (Breaker::new(cfg()), Instant::now());
    fail_n(&mut b, 4, t);
    let after = t + Duration::from_secs(30);
    let p1 = b.try_acquire(after).expect("first probe");
    assert_eq!((p1, b.state()), (Permit::Probe, State::HalfOpen));
    let p2 = b.try_acquire(after).expect("second probe");
    assert_eq!(b.try_acquire(after), None, "only two probes at once");
    assert_eq!(b.record(p1, true, after), None);
    assert_eq!(b.record(p2, true, after), Some(State::Closed));
    assert_eq!(b.try_acquire(after), Some(Permit::Normal));
}

#[test]
fn a_failed_probe_opens_again() {
    let (mut b, t) = (Breaker::new(cfg()), Instant::now());
    fail_n(&mut b, 4, t);
    let after = t + Duration::from_secs(31);
    let p = b.try_acquire(after).expect("probe");
    assert_eq!(b.record(p, false, after), Some(State::Open));
    assert_eq!(b.try_acquire(after + Duration::from_secs(29)), None, "a fresh open period");
}

#[test]
fn late_outcomes_of_an_earlier_state_are_ignored() {
    let (mut b, t) = (Breaker::new(cfg()), Instant::now());
    let slow = b.try_acquire(t).expect("permit");
    fail_n(&mut b, 4, t);
    assert_eq!(b.record(slow, true, t), None, "a success from before the opening changes nothing");
    assert_eq!(b.state(), State::Open);
}

/// A shared breaker with one probe, zero recovery window and a minimum volume of 1.
fn fragile() -> SharedBreaker {
    let c = BreakerConfig { min_calls: 1, open_for: Duration::ZERO, half_open_probes: 1, ..cfg() };
    SharedBreaker::new(c, Metrics::new("breaker-test"))
}

#[tokio::test]
async fn a_cancelled_probe_frees_its_slot() {
    let breaker = fragile();
    let _ = breaker.call(async { Err::<(), ()>(()) }).await;
    assert_eq!(breaker.state(), State::Open);
    for _ in 0..5 {
        // a probe that never finishes, dropped mid-call like a handler whose client went away
        let mut probe = Box::pin(breaker.call(std::future::pending::<Result<(), ()>>()));
        assert!(futures::poll!(probe.as_mut()).is_pending(), "the probe went through and is waiting");
        assert_eq!(breaker.state(), State::HalfOpen);
        drop(probe);
        assert_eq!(breaker.state(), State::Open, "the cancelled probe counted as a failure");
    }
    let ok = breaker.call(async { Ok::<(), ()>(()) }).await;
    assert!(ok.is_ok(), "a new probe is let through: {ok:?}");
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test]
async fn a_cancelled_ordinary_call_is_not_counted() {
    let breaker = fragile();
    let mut call = Box::pin(breaker.call(std::future::pending::<Result<(), ()>>()));
    assert!(futures::poll!(call.as_mut()).is_pending());
    drop(call);
    assert_eq!(breaker.state(), State::Closed, "with a minimum volume of 1, a counted failure would have opened it");
}
