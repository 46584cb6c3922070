//! Costs the energy model must see once, not on every wake: a modem that refuses the fastest
//! UART rate, and a letter resting in the IR beam.

use smartbox_firmware::ir::IR_SETTLE_MS;
use smartbox_firmware::policy::{TIMER_WAKE_MS, Wake};
use smartbox_sim::mailbox::{IR_LETTER_RESTS, Mailbox};

use crate::world::{HOUR, World};

/// Two mail wakes an hour apart; the awake milliseconds, charge and modem command lines of each.
fn two_mail_wakes(mailbox: &mut Mailbox) -> [(u64, f64, u64); 2] {
    [HOUR, 2 * HOUR].map(|at| {
        let before = mailbox.modem_stats().commands;
        let report = mailbox.wake(at, Wake::Mail);
        assert_eq!(report.delivered, 1);
        (
            report.awake_ms,
            mailbox.last_wake_mah(),
            mailbox.modem_stats().commands - before,
        )
    })
}

#[test]
fn a_modem_that_refuses_the_fastest_rate_pays_for_the_refusal_on_its_first_boot_only() {
    let world = World::new();
    let keys = world.provision(&["SB-E2E-0040", "SB-E2E-0041"]);
    let mut normal = world.mailbox(&World::spec(&keys[0], 40));
    let mut refusing_spec = World::spec(&keys[1], 40);
    refusing_spec
        .modem
        .uart_bauds
        .retain(|&rate| rate != 3_686_400);
    let mut refusing = world.mailbox(&refusing_spec);

    let normal = two_mail_wakes(&mut normal);
    let refusing_wakes = two_mail_wakes(&mut refusing);
    let stored = refusing.retained.modem;
    assert_eq!((stored.baud, stored.refused_baud), (921_600, 3_686_400));
    // The refusal and the fallback rate's setting cost the first boot; the second boot talks
    // 921,600 from its first byte and sends what the normal modem sends.
    assert!(
        refusing_wakes[0].0 > refusing_wakes[1].0,
        "{refusing_wakes:?}"
    );
    assert_eq!(
        refusing_wakes[1].2, normal[1].2,
        "{refusing_wakes:?} vs {normal:?}"
    );
    // At 921,600 baud the photos take ~0.2 s longer on the UART than at 3,686,400, no more.
    let extra_ms = refusing_wakes[1].0 as i64 - normal[1].0 as i64;
    assert!(
        (0..1_000).contains(&extra_ms),
        "{refusing_wakes:?} vs {normal:?}"
    );
}

#[test]
fn a_letter_resting_in_the_beam_costs_one_settle_time_in_light_sleep_then_one_look() {
    let world = World::new();
    let keys = world.provision(&["SB-E2E-0042", "SB-E2E-0043"]);
    let mut falls = world.mailbox(&World::spec(&keys[0], 42));
    let mut rests_spec = World::spec(&keys[1], 42);
    rests_spec.ir_high_ms = IR_LETTER_RESTS;
    let mut rests = world.mailbox(&rests_spec);

    let mail = |m: &mut Mailbox| {
        let report = m.wake(HOUR, Wake::Mail);
        (report.awake_ms, m.last_wake_mah(), m.ir_armed())
    };
    let (falls_ms, falls_mah, falls_armed) = mail(&mut falls);
    let (rests_ms, rests_mah, rests_armed) = mail(&mut rests);
    assert!(falls_armed && !rests_armed);
    // The settle time is counted, dozing: 5 s at the light-sleep current, not the MCU's 38 mA.
    let extra_ms = rests_ms as i64 - falls_ms as i64;
    assert!(
        (IR_SETTLE_MS as i64 - 300..IR_SETTLE_MS as i64 + 300).contains(&extra_ms),
        "{rests_ms} vs {falls_ms} ms"
    );
    let extra_mah = rests_mah - falls_mah;
    assert!(
        (0.0..0.002).contains(&extra_mah),
        "{extra_mah} mAh for the settle"
    );
    // The next timer wake finds the line still high and looks once: no second settle time.
    let timer = |m: &mut Mailbox| {
        let at = m.board().now_ms() + TIMER_WAKE_MS;
        m.wake(at, Wake::Timer).awake_ms
    };
    let (falls_timer, rests_timer) = (timer(&mut falls), timer(&mut rests));
    assert!(
        rests_timer.abs_diff(falls_timer) < 100,
        "{rests_timer} vs {falls_timer} ms"
    );
    assert!(!rests.ir_armed() && rests.retained.ir_stuck);
}
