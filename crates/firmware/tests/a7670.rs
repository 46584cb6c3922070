//! The real A7670 driver against a scripted fake modem on a simulated clock.

mod support;

use embassy_futures::block_on;
use heapless::String;
use smartbox_firmware::a7670::parse::Registration;
use smartbox_firmware::a7670::{
    A7670, FACTORY_BAUD, ModemError, Settings, SslStep, Stored, ca_tag, userdata,
};
use smartbox_firmware::http::{DeviceHttp, Method, NetError, Request, SignedHeaders};
use support::{FakePin, FakeUart, Sim};

type Modem = A7670<FakeUart, FakePin, Sim>;

/// The CA the firmware under test carries (its bytes only matter to the modem).
const CA: &[u8] = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
/// SSL context 0 as the driver sets it for `https`: server authentication against [`CA`].
const SSL_CONTEXT: &str = "+CSSLCFG=\"sslversion\",0,4;+CSSLCFG=\"authmode\",0,1;\
    +CSSLCFG=\"cacert\",0,\"smartbox_ca.pem\";+CSSLCFG=\"enableSNI\",0,1";

/// A driver whose modem already holds [`CA`] (stored by an earlier wake).
fn modem(sim: &Sim, base_url: &str) -> Modem {
    let settings = Settings {
        base_url: String::try_from(base_url).expect("fits"),
        apn: String::try_from("iot.test").expect("fits"),
        uart_baud: FACTORY_BAUD,
        ca_cert: Some(CA),
    };
    let mut modem = A7670::new(sim.uart(), sim.pwrkey_pin(), sim.clone(), settings);
    modem.recall(Stored {
        ca_tag: ca_tag(CA),
        ..Stored::default()
    });
    modem
}

const OK: &str = "\r\nOK\r\n";

#[test]
fn power_key_pulse_then_at_polled_each_second_and_again_as_soon_as_the_modem_has_booted() {
    let sim = Sim::new();
    // Silent while booting; boot URCs at 11,050 ms; the AT sent on them is answered.
    for _ in 0..11 {
        sim.expect_silence("AT");
    }
    sim.unsolicited(
        11_050,
        "\r\nRDY\r\n\r\n*ATREADY: 1\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n",
    );
    sim.expect("AT", OK)
        .expect("ATE0", "ATE0\r\n\r\nOK\r\n")
        .expect("AT+CMEE=1", OK);
    let mut modem = modem(&sim, "http://h");
    block_on(async {
        modem.press_power_key().await;
        modem.wait_ready(30_000).await
    })
    .expect("ready");
    assert_eq!(sim.pwrkey(), [(0, true), (100, false)]);
    let ats: Vec<u64> = sim
        .commands()
        .iter()
        .filter(|(_, c)| c == "AT")
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(ats.len(), 12);
    assert!(
        ats[..11].windows(2).all(|w| w[1] - w[0] == 1_000),
        "{ats:?}"
    );
    assert_eq!(
        ats[11], 11_050,
        "the AT goes with the boot URC, not at the next whole second"
    );
    assert_eq!(modem.noise(), 0, "boot URCs are known chatter");
    assert!(sim.script_done());
}

#[test]
fn a_modem_that_never_answers_times_out_at_the_deadline() {
    let sim = Sim::new();
    for _ in 0..5 {
        sim.expect_silence("AT");
    }
    let mut modem = modem(&sim, "http://h");
    assert_eq!(block_on(modem.wait_ready(5_000)), Err(ModemError::Timeout));
    assert_eq!(sim.now(), 5_000);
}

#[test]
fn the_ubl_variant_without_http_is_refused_clearly() {
    let sim = Sim::new();
    let ati = |model: &str| {
        format!(
            "\r\nManufacturer: SIMCOM INCORPORATED\r\nModel: {model}\r\nRevision: A7670M7_V1.11.1\r\nIMEI: 860000000000001\r\n\r\nOK\r\n"
        )
    };
    sim.expect("AT+SIMCOMATI", &ati("A7670E-LNXY-UBL"))
        .expect("AT+SIMCOMATI", &ati("A7670E-FASE"));
    let mut modem = modem(&sim, "http://h");
    assert_eq!(
        block_on(modem.check_model()),
        Err(ModemError::UnsupportedModel)
    );
    assert_eq!(
        block_on(modem.check_model())
            .map(|m| m.to_string())
            .as_deref(),
        Ok("A7670E-FASE")
    );
}

#[test]
fn sim_missing_or_locked_is_no_sim() {
    let sim = Sim::new();
    sim.expect("AT+CPIN?", "\r\n+CME ERROR: 10\r\n")
        .expect("AT+CPIN?", "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n")
        .expect("AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n");
    let mut modem = modem(&sim, "http://h");
    assert_eq!(block_on(modem.check_sim()), Err(ModemError::NoSim));
    assert_eq!(block_on(modem.check_sim()), Err(ModemError::NoSim));
    assert_eq!(block_on(modem.check_sim()), Ok(()));
}

#[test]
fn apn_is_set_on_context_one() {
    let sim = Sim::new();
    sim.expect("AT+CGDCONT=1,\"IP\",\"iot.test\"", OK);
    let mut modem = modem(&sim, "http://h");
    assert_eq!(block_on(modem.set_apn()), Ok(()));
    assert!(sim.script_done());
}

#[test]
fn registration_is_polled_until_home() {
    let sim = Sim::new();
    sim.expect("AT+CEREG?", "\r\n+CEREG: 0,2\r\n\r\nOK\r\n")
        .expect("AT+CGREG?", "\r\n+CGREG: 0,2\r\n\r\nOK\r\n")
        .expect("AT+CEREG?", "\r\n+CEREG: 0,1\r\n\r\nOK\r\n");
    let mut modem = modem(&sim, "http://h");
    assert_eq!(
        block_on(modem.wait_registered(60_000)),
        Ok(Registration::Home)
    );
    assert_eq!(sim.now(), 1_000);
}

#[test]
fn registration_on_the_2g_3g_side_counts_too() {
    let sim = Sim::new();
    sim.expect("AT+CEREG?", "\r\n+CEREG: 0,4\r\n\r\nOK\r\n")
        .expect("AT+CGREG?", "\r\n+CGREG: 0,5\r\n\r\nOK\r\n");
    let mut modem = modem(&sim, "http://h");
    assert_eq!(
        block_on(modem.wait_registered(60_000)),
        Ok(Registration::Roaming)
    );
}

#[test]
fn denied_registration_stops_at_once() {
    let sim = Sim::new();
    sim.expect("AT+CEREG?", "\r\n+CEREG: 0,3\r\n\r\nOK\r\n");
    let mut modem = modem(&sim, "http://h");
    assert_eq!(
        block_on(modem.wait_registered(60_000)),
        Err(ModemError::RegistrationDenied)
    );
    assert_eq!(sim.now(), 0);
}

#[test]
fn registration_gives_up_at_its_deadline() {
    let sim = Sim::new();
    for _ in 0..4 {
        sim.expect("AT+CEREG?", "\r\n+CEREG: 0,2\r\n\r\nOK\r\n")
            .expect("AT+CGREG?", "\r\n+CGREG: 0,0\r\n\r\nOK\r\n");
    }
    let mut modem = modem(&sim, "http://h");
    assert_eq!(
        block_on(modem.wait_registered(3_000)),
        Err(ModemError::NotRegistered)
    );
    assert_eq!(sim.now(), 3_000);
    assert!(sim.script_done());
}

#[test]
fn signal_survives_interleaved_urcs_and_garbage() {
    let sim = Sim::new();
    sim.expect_raw(
        "AT+CSQ",
        vec![(
            0,
            b"\r\n+CEREG: 1\r\n\xff\x00garbage\r\n+CSQ: 20,99\r\n\r\nOK\r\n".to_vec(),
        )],
    );
    let mut modem = modem(&sim, "http://h");
    assert_eq!(block_on(modem.signal_dbm()), Ok(Some(-73)));
    assert_eq!(
        modem.noise(),
        1,
        "the garbage line is counted, the URC is not"
    );
}

#[test]
fn unknown_signal_is_none_and_a_bad_one_is_garbled() {
    let sim = Sim::new();
    sim.expect("AT+CSQ", "\r\n+CSQ: 99,99\r\n\r\nOK\r\n")
        .expect("AT+CSQ", "\r\n+CSQ: 77,99\r\n\r\nOK\r\n");
    let mut modem = modem(&sim, "http://h");
    assert_eq!(block_on(modem.signal_dbm()), Ok(None));
    assert_eq!(block_on(modem.signal_dbm()), Err(ModemError::Garbled));
}

#[test]
fn errors_are_told_apart() {
    let sim = Sim::new();
    sim.expect("AT+CSQ", "\r\nERROR\r\n")
        .expect("AT+CSQ", "\r\n+CME ERROR: 100\r\n");
    let mut modem = modem(&sim, "http://h");
    assert_eq!(block_on(modem.signal_dbm()), Err(ModemError::Error));
    assert_eq!(
        block_on(modem.signal_dbm()),
        Err(ModemError::Cme(Some(100)))
    );
}

#[test]
fn a_truncated_answer_times_out() {
    let sim = Sim::new();
    sim.expect("AT+CSQ", "\r\n+CSQ: 20,99\r\nO");
    let mut modem = modem(&sim, "http://h");
    assert_eq!(block_on(modem.signal_dbm()), Err(ModemError::Timeout));
    assert_eq!(sim.now(), 1_000);
}

#[test]
fn a_closed_uart_is_an_io_error() {
    let sim = Sim::new();
    sim.expect_silence("AT+CSQ");
    sim.close();
    let mut modem = modem(&sim, "http://h");
    assert_eq!(block_on(modem.signal_dbm()), Err(ModemError::Io));
}

fn headers() -> SignedHeaders {
    SignedHeaders {
        serial: String::try_from("SB-0001").expect("fits"),
        time: 1_767_225_600,
        signature: *b"v2=33fdebf8a72ad9dc0d10dcd13023cbec1ce4c743f0a45ab8d2380af05cae082c",
    }
}

const USERDATA: &str = "X-Device-Serial: SB-0001\\r\\nX-Device-Time: 1767225600\\r\\nX-Device-Signature: v2=33fdebf8a72ad9dc0d10dcd13023cbec1ce4c743f0a45ab8d2380af05cae082c";

#[test]
fn userdata_joins_headers_with_escaped_line_breaks() {
    assert_eq!(userdata(&headers()).as_str(), USERDATA);
    assert!(USERDATA.len() <= 256);
}

/// Scripts the commands of one HTTPS POST up to `AT+HTTPACTION=1`.
fn script_post_until_action(sim: &Sim, body: &[u8]) {
    sim.expect("AT+HTTPINIT", OK)
        .expect(&format!("AT{SSL_CONTEXT}"), OK)
        .expect("AT+HTTPPARA=\"SSLCFG\",0", OK)
        .expect(
            &format!(
                "AT+HTTPPARA=\"URL\",\"https://api.smartbox.test/api/device/v1/events\";\
                 +HTTPPARA=\"CONTENT\",\"application/json\";+HTTPPARA=\"USERDATA\",\"{USERDATA}\""
            ),
            OK,
        )
        .expect(
            &format!("AT+HTTPDATA={},10", body.len()),
            "\r\nDOWNLOAD\r\n",
        )
        .expect_body(body.len(), OK);
}

#[test]
fn https_post_runs_the_whole_sequence_and_reads_a_binary_body_but_not_the_head_of_a_201() {
    let sim = Sim::new();
    let body = br#"{"event_id":"67e55044-10b1-426f-9247-bb680e5fe0c8","kind":"mail_arrived","occurred_at":1767225600,"photo_count":3}"#;
    // The response body contains a line break and an "OK" line: only the count delimits it.
    let answer = b"{\"a\":1}\r\nOK\r\n";
    script_post_until_action(&sim, body);
    sim.expect_later(
        "AT+HTTPACTION=1",
        &[(0, OK), (2_500, "\r\n+HTTPACTION: 1,201,13\r\n")],
    )
    .expect_raw(
        "AT+HTTPREAD=0,13",
        vec![
            (0, b"\r\nOK\r\n\r\n+HTTPREAD: 13\r\n".to_vec()),
            (5, answer.to_vec()),
            (6, b"\r\n+HTTPREAD: 0\r\n".to_vec()),
        ],
    );
    let mut modem = modem(&sim, "https://api.smartbox.test");
    modem.use_socket(false);
    let headers = headers();
    let request = Request {
        method: Method::Post,
        path: "/api/device/v1/events",
        content_type: Some("application/json"),
        headers: &headers,
        body,
        range: None,
        last: false,
    };
    let mut out = [0; 64];
    let response = block_on(modem.send(&request, &mut out)).expect("answered");
    assert_eq!(response.status, 201);
    assert_eq!(&out[..response.body_len], answer);
    assert_eq!(response.content_len, 13);
    assert_eq!(response.date, None, "nothing needs a 201's Date");
    assert_eq!(response.retry_after_s, None);
    assert_eq!(sim.bodies(), [body.to_vec()]);
    assert!(sim.script_done());
    let counters = modem.counters();
    assert!(counters.tx >= body.len() as u64 + USERDATA.len() as u64);
    assert_eq!(
        counters.rx,
        160 + answer.len() as u64,
        "the unread head counted at its estimate"
    );
    assert_eq!(modem.noise(), 0);
}

#[test]
fn plain_http_put_skips_tls_reads_a_429s_retry_after_and_a_short_buffer_truncates_the_body() {
    let sim = Sim::new();
    let photo = vec![0xff_u8; 300];
    sim.expect("AT+HTTPINIT", OK)
        .expect(
            &format!(
                "AT+HTTPPARA=\"URL\",\"http://127.0.0.1:8080/p\";\
                 +HTTPPARA=\"CONTENT\",\"image/jpeg\";+HTTPPARA=\"USERDATA\",\"{USERDATA}\""
            ),
            OK,
        )
        .expect("AT+HTTPDATA=300,10", "\r\nDOWNLOAD\r\n")
        .expect_body(300, OK)
        .expect_later(
            "AT+HTTPACTION=4",
            &[(0, OK), (800, "\r\n+HTTPACTION: 4,429,40\r\n")],
        )
        .expect(
            "AT+HTTPHEAD",
            "\r\n+HTTPHEAD: 37\r\nHTTP/1.1 429 x\r\nRetry-After: 3600\r\n\r\n\r\nOK\r\n",
        )
        .expect(
            "AT+HTTPREAD=0,8",
            "\r\n+HTTPREAD: 8\r\n{\"error\"\r\n+HTTPREAD: 0\r\n\r\nOK\r\n",
        );
    let mut modem = modem(&sim, "http://127.0.0.1:8080");
    let mut out = [0; 8];
    let response = block_on(modem.http(
        Method::Put,
        "/p",
        Some("image/jpeg"),
        USERDATA,
        &photo,
        &mut out,
    ))
    .expect("answered");
    assert_eq!(
        (response.status, response.body_len, response.content_len),
        (429, 8, 40)
    );
    assert_eq!(response.retry_after_s, Some(3600));
    assert_eq!(&out, b"{\"error\"");
    assert!(sim.script_done());
}

#[test]
fn tls_failure_715_is_a_stack_error_and_the_session_is_closed() {
    let sim = Sim::new();
    let body = b"{}";
    script_post_until_action(&sim, body);
    sim.expect_later(
        "AT+HTTPACTION=1",
        &[(0, OK), (4_000, "\r\n+HTTPACTION: 1,715,0\r\n")],
    )
    .expect("AT+HTTPTERM", OK);
    let mut modem = modem(&sim, "https://api.smartbox.test");
    modem.use_socket(false);
    let headers = headers();
    let request = Request {
        method: Method::Post,
        path: "/api/device/v1/events",
        content_type: Some("application/json"),
        headers: &headers,
        body,
        range: None,
        last: false,
    };
    assert_eq!(
        block_on(modem.send(&request, &mut [0; 8])),
        Err(NetError::Stack(715))
    );
    assert!(sim.script_done());
}

#[test]
fn a_missing_httpaction_urc_times_out_after_130_s_and_still_terminates() {
    let sim = Sim::new();
    let body = b"{}";
    script_post_until_action(&sim, body);
    sim.expect("AT+HTTPACTION=1", OK).expect("AT+HTTPTERM", OK);
    let mut modem = modem(&sim, "https://api.smartbox.test");
    let result = block_on(modem.http(
        Method::Post,
        "/api/device/v1/events",
        Some("application/json"),
        USERDATA,
        body,
        &mut [0; 8],
    ));
    assert_eq!(result.map(|r| r.status), Err(ModemError::Timeout));
    assert_eq!(sim.now(), 130_000);
    assert!(sim.script_done());
}

#[test]
fn an_httpinit_refused_twice_ends_the_request_with_httpterm() {
    let sim = Sim::new();
    // Refused: perhaps a session left open; closed, refused again: give up.
    sim.expect("AT+HTTPINIT", "\r\nERROR\r\n")
        .expect("AT+HTTPTERM", OK)
        .expect("AT+HTTPINIT", "\r\nERROR\r\n")
        .expect("AT+HTTPTERM", OK);
    let mut modem = modem(&sim, "http://h");
    let result = block_on(modem.http(Method::Get, "/x", None, "", &[], &mut [0; 8]));
    assert_eq!(result.map(|r| r.status), Err(ModemError::Error));
    assert!(sim.script_done());
}

/// Issue 13: a byte lost while `AT+CGDCONT` was sent can leave a mangled APN stored in the
/// modem, and every `HTTPINIT` then fails; the APN is sent again at the next wake.
#[test]
fn a_pdp_context_that_cannot_start_makes_the_apn_be_stored_again() {
    use smartbox_firmware::a7670::apn_tag;
    let sim = Sim::new();
    sim.expect("AT+HTTPINIT", "\r\nERROR\r\n")
        .expect("AT+HTTPTERM", OK)
        .expect("AT+HTTPINIT", "\r\nERROR\r\n")
        .expect("AT+HTTPTERM", OK);
    let mut modem = modem(&sim, "http://h");
    let stored = Stored {
        baud: 115_200,
        refused_baud: 0,
        apn_tag: apn_tag("iot.test"),
        ca_tag: ca_tag(CA),
    };
    modem.recall(stored);
    let result = block_on(modem.http(Method::Get, "/x", None, "", &[], &mut [0; 8]));
    assert_eq!(result.map(|r| r.status), Err(ModemError::Error));
    assert_eq!(
        modem.stored(),
        Stored {
            apn_tag: 0,
            ..stored
        }
    );
    assert!(sim.script_done());
}

#[test]
fn httpdata_refused_before_the_prompt_is_an_error() {
    let sim = Sim::new();
    sim.expect("AT+HTTPINIT", OK)
        .expect("AT+HTTPPARA=\"URL\",\"http://h/x\"", OK)
        .expect("AT+HTTPDATA=3,10", "\r\n+CME ERROR: 4\r\n")
        .expect("AT+HTTPTERM", OK);
    let mut modem = modem(&sim, "http://h");
    let result = block_on(modem.http(Method::Post, "/x", None, "", b"abc", &mut [0; 8]));
    assert_eq!(result.map(|r| r.status), Err(ModemError::Cme(Some(4))));
    assert!(sim.bodies().is_empty());
}

#[test]
fn bodies_over_153600_bytes_are_refused_before_any_command() {
    let sim = Sim::new();
    let mut modem = modem(&sim, "http://h");
    let big = vec![0; 153_601];
    let result = block_on(modem.http(Method::Put, "/x", None, "", &big, &mut [0; 8]));
    assert_eq!(result.map(|r| r.status), Err(ModemError::TooLarge));
    assert!(sim.commands().is_empty());
}

#[test]
fn get_keeps_the_first_bytes_of_a_body_larger_than_the_buffer() {
    let sim = Sim::new();
    let image: Vec<u8> = (0..=255).cycle().take(600).collect();
    sim.expect("AT+HTTPINIT", OK)
        .expect("AT+HTTPPARA=\"URL\",\"http://h/fw\"", OK)
        .expect_later(
            "AT+HTTPACTION=0",
            &[(0, OK), (100, "\r\n+HTTPACTION: 0,200,600\r\n")],
        );
    let mut reply = b"\r\nOK\r\n\r\n+HTTPREAD: 300\r\n".to_vec();
    reply.extend_from_slice(&image[..300]);
    reply.extend_from_slice(b"\r\n+HTTPREAD: 0\r\n");
    sim.expect_raw("AT+HTTPREAD=0,300", vec![(0, reply)]);
    let mut modem = modem(&sim, "http://h");
    let mut first = [0; 300];
    let response =
        block_on(modem.http(Method::Get, "/fw", None, "", &[], &mut first)).expect("answered");
    assert_eq!(
        (response.status, response.body_len, response.content_len),
        (200, 300, 600)
    );
    assert_eq!(&first[..], &image[..300]);
    assert!(sim.script_done());
}

#[test]
fn power_off_waits_for_powered_down_without_a_pwrkey_pulse() {
    let sim = Sim::new();
    sim.expect_later("AT+CPOF", &[(0, OK), (3_000, "\r\nPOWERED DOWN\r\n")]);
    let mut modem = modem(&sim, "http://h");
    assert_eq!(block_on(modem.power_off()), Ok(()));
    assert_eq!(sim.now(), 3_000);
    assert!(sim.pwrkey().is_empty());
}

#[test]
fn power_off_falls_back_to_a_long_pwrkey_pulse_when_the_modem_is_mute() {
    let sim = Sim::new();
    sim.expect_silence("AT+CPOF");
    let mut modem = modem(&sim, "http://h");
    assert_eq!(block_on(modem.power_off()), Ok(()));
    assert_eq!(sim.pwrkey(), [(1_000, true), (3_600, false)]);
}

fn script_boot(sim: &Sim, model: &str) {
    sim.expect("AT", OK).expect("ATE0", OK).expect("AT+CMEE=1", OK).expect(
        "AT+SIMCOMATI",
        &format!("\r\nManufacturer: SIMCOM INCORPORATED\r\nModel: {model}\r\nRevision: X\r\n\r\nOK\r\n"),
    );
}

#[test]
fn attach_runs_ready_model_sim_apn_registration_and_signal_in_order() {
    use smartbox_firmware::link::Cellular;
    let sim = Sim::new();
    script_boot(&sim, "A7670E-FASE");
    sim.expect("AT+CPIN?", "\r\n+CPIN: READY\r\n\r\nOK\r\n")
        .expect("AT+CGDCONT=1,\"IP\",\"iot.test\"", OK)
        .expect("AT+CEREG=1", OK)
        .expect("AT+CGREG=1", OK)
        .expect("AT+CEREG?", "\r\n+CEREG: 1,1\r\n\r\nOK\r\n")
        .expect("AT+CSQ", "\r\n+CSQ: 25,99\r\n\r\nOK\r\n");
    let mut modem = modem(&sim, "http://h");
    assert_eq!(block_on(Cellular::attach(&mut modem, 45_000)), Ok(-63));
    assert!(sim.script_done());
}

#[test]
fn attach_reports_the_ubl_variant_as_a_permanent_link_failure() {
    use smartbox_firmware::link::{Cellular, LinkFailure};
    let sim = Sim::new();
    script_boot(&sim, "A7670E-LNXY-UBL");
    let mut modem = modem(&sim, "http://h");
    let failure = block_on(Cellular::attach(&mut modem, 45_000)).expect_err("refused");
    assert_eq!(failure, LinkFailure::UnsupportedModem);
    assert!(failure.is_permanent());
}

fn fast_modem(sim: &Sim) -> Modem {
    modem_at(sim, 921_600)
}

fn modem_at(sim: &Sim, uart_baud: u32) -> Modem {
    let settings = Settings {
        base_url: String::try_from("http://h").expect("fits"),
        apn: String::try_from("iot.test").expect("fits"),
        uart_baud,
        ca_cert: None,
    };
    A7670::new(sim.uart(), sim.pwrkey_pin(), sim.clone(), settings)
}

/// Powers the modem on, waits for it and stores the fast rate.
fn boot_and_switch(modem: &mut Modem) -> Result<(), ModemError> {
    block_on(async {
        modem.press_power_key().await;
        modem.wait_ready(45_000).await?;
        modem.use_fast_uart().await
    })
}

/// A modem that answers at the expected rate once its boot URC came at 11 s.
fn script_ready_at_11_s(sim: &Sim) {
    sim.unsolicited(11_000, "\r\n*ATREADY: 1\r\n");
    for _ in 0..11 {
        sim.expect_silence("AT");
    }
    sim.expect("AT", OK)
        .expect("ATE0", OK)
        .expect("AT+CMEE=1", OK);
}

/// A modem deaf at 921,600 (it still runs the factory rate): from 13 s the polls go round the
/// other rates, and the one at 115,200 is answered.
fn script_found_at_the_factory_rate(sim: &Sim) {
    for _ in 0..13 {
        sim.expect_silence("AT");
    }
    sim.expect("AT", OK)
        .expect("ATE0", OK)
        .expect("AT+CMEE=1", OK);
}

#[test]
fn a_new_modem_at_115200_is_found_late_in_its_boot_and_stores_921600_with_iprex() {
    let sim = Sim::new();
    script_found_at_the_factory_rate(&sim);
    sim.expect("AT+IPREX=921600", OK).expect("AT", OK);
    let mut modem = fast_modem(&sim);
    boot_and_switch(&mut modem).expect("ready and switched");
    let sent = sim.commands_at_baud();
    let at = |i: usize| (sent[i].0.as_str(), sent[i].1);
    assert_eq!(at(12), ("AT", 921_600), "12.1 s: still the stored rate");
    assert_eq!(
        at(13),
        ("AT", 115_200),
        "13.1 s: the factory rate, every other poll"
    );
    assert_eq!(at(16), ("AT+IPREX=921600", 115_200));
    assert_eq!(at(17), ("AT", 921_600), "checked at the new rate");
    assert_eq!(modem.baud(), 921_600);
    assert!(sim.script_done());
}

#[test]
fn a_silent_modem_is_tried_first_at_the_factory_rate_then_at_the_other_candidates() {
    let sim = Sim::new();
    for _ in 0..17 {
        sim.expect_silence("AT");
    }
    let mut modem = modem_at(&sim, 3_686_400);
    let result = block_on(async {
        modem.press_power_key().await;
        modem.wait_ready(17_000).await
    });
    assert_eq!(result, Err(ModemError::Timeout));
    let rates: Vec<u32> = sim.commands_at_baud()[12..]
        .iter()
        .map(|(_, baud)| *baud)
        .collect();
    assert_eq!(
        rates,
        [3_686_400, 115_200, 921_600, 3_686_400, 115_200],
        "from 13 s: a new modem's rate first, then 921,600 (a modem an older firmware set)"
    );
}

#[test]
fn a_modem_that_stored_921600_is_spoken_to_at_921600_from_its_first_byte() {
    let sim = Sim::new();
    script_ready_at_11_s(&sim);
    let mut modem = fast_modem(&sim);
    boot_and_switch(&mut modem).expect("ready");
    assert_eq!(
        sim.bauds(),
        [(0, 921_600)],
        "set before PWRKEY, never changed"
    );
    assert!(
        sim.commands_at_baud()
            .iter()
            .all(|(_, baud)| *baud == 921_600),
        "no AT+IPREX when the modem already runs at the rate"
    );
    assert!(sim.script_done());
}

#[test]
fn an_iprex_the_modem_does_not_follow_leaves_the_link_at_its_old_rate() {
    let sim = Sim::new();
    sim.expect("AT+IPREX=921600", OK)
        .expect_silence("AT")
        .expect("AT", OK);
    let mut modem = fast_modem(&sim);
    assert_eq!(block_on(modem.use_fast_uart()), Ok(()));
    assert_eq!(modem.baud(), 115_200);
    assert!(sim.script_done());
}

#[test]
fn a_cereg_urc_ends_the_registration_wait_before_the_next_poll() {
    let sim = Sim::new();
    sim.expect("AT+CEREG=1", OK)
        .expect("AT+CGREG=1", OK)
        .expect("AT+CEREG?", "\r\n+CEREG: 1,2\r\n\r\nOK\r\n")
        .expect("AT+CGREG?", "\r\n+CGREG: 1,2\r\n\r\nOK\r\n")
        .unsolicited(300, "\r\n+CEREG: 5\r\n");
    let mut modem = modem(&sim, "http://h");
    let state = block_on(async {
        modem.report_registration().await?;
        modem.wait_registered(30_000).await
    });
    assert_eq!(state, Ok(Registration::Roaming));
    assert_eq!(sim.now(), 300, "not at the next poll, 1 s later");
    assert!(sim.script_done());
}

/// Scripts one plain-HTTP POST in an open session, `AT+HTTPPARA="URL"` to the `+HTTPACTION` URC
/// (a 2xx with no body: neither head nor body is read).
fn script_post_in_session(sim: &Sim, status: u16) {
    sim.expect(
        "AT+HTTPPARA=\"URL\",\"http://h/p\";+HTTPPARA=\"CONTENT\",\"application/json\"",
        OK,
    )
    .expect("AT+HTTPDATA=2,10", "\r\nDOWNLOAD\r\n")
    .expect_body(2, OK)
    .expect_later(
        "AT+HTTPACTION=1",
        &[
            (0, OK),
            (300, &format!("\r\n+HTTPACTION: 1,{status},0\r\n")),
        ],
    );
}

#[test]
fn the_requests_of_a_power_cycle_share_one_http_session_until_one_fails() {
    let sim = Sim::new();
    sim.expect("AT+HTTPINIT", OK);
    script_post_in_session(&sim, 201);
    script_post_in_session(&sim, 200);
    // The third request: the network fails (a 7xx), the session is closed for the retry.
    script_post_in_session(&sim, 706);
    sim.expect("AT+HTTPTERM", OK).expect("AT+HTTPINIT", OK);
    script_post_in_session(&sim, 201);
    let mut modem = modem(&sim, "http://h");
    let mut out = [0; 8];
    let mut post = || {
        block_on(modem.http(
            Method::Post,
            "/p",
            Some("application/json"),
            "",
            b"{}",
            &mut out,
        ))
        .map(|r| r.status)
    };
    assert_eq!(post(), Ok(201));
    assert_eq!(post(), Ok(200));
    assert_eq!(post(), Err(ModemError::Http(706)));
    assert_eq!(post(), Ok(201));
    let inits = sim
        .command_names()
        .iter()
        .filter(|c| *c == "AT+HTTPINIT")
        .count();
    assert_eq!(inits, 2, "one session, and a fresh one after the failure");
    assert!(sim.script_done());
}

#[test]
fn a_refused_fast_rate_falls_back_to_921600_and_the_next_driver_boots_there_without_asking() {
    let sim = Sim::new();
    sim.expect("AT+IPREX=3686400", "\r\nERROR\r\n")
        .expect("AT+IPREX=921600", OK)
        .expect("AT", OK);
    let mut modem = modem_at(&sim, 3_686_400);
    assert_eq!(block_on(modem.use_fast_uart()), Ok(()));
    assert_eq!(modem.baud(), 921_600);
    let stored = modem.stored();
    assert_eq!((stored.baud, stored.refused_baud), (921_600, 3_686_400));
    assert!(sim.script_done());

    // After deep sleep: a new driver, told what the last one learnt.
    let sim = Sim::new();
    script_ready_at_11_s(&sim);
    let mut modem = modem_at(&sim, 3_686_400);
    modem.recall(stored);
    boot_and_switch(&mut modem).expect("ready at once");
    assert_eq!(
        sim.bauds(),
        [(0, 921_600)],
        "the rate it stored, from PWRKEY on"
    );
    assert_eq!(sim.now(), 11_000, "no rate hunted for");
    assert_eq!(modem.stored(), stored);
    assert!(sim.script_done());
}

#[test]
fn a_modem_answering_only_at_the_factory_rate_is_a_new_one_whose_apn_is_set_again() {
    use smartbox_firmware::a7670::apn_tag;
    let sim = Sim::new();
    script_found_at_the_factory_rate(&sim);
    sim.expect("AT+CGDCONT=1,\"IP\",\"iot.test\"", OK);
    let mut modem = modem_at(&sim, 921_600);
    modem.recall(Stored {
        baud: 921_600,
        refused_baud: 0,
        apn_tag: apn_tag("iot.test"),
        ca_tag: 0,
    });
    block_on(async {
        modem.set_apn().await?;
        modem.press_power_key().await;
        modem.wait_ready(45_000).await?;
        modem.set_apn().await?;
        modem.set_apn().await
    })
    .expect("ready");
    assert_eq!(
        sim.command_names()
            .iter()
            .filter(|c| c.starts_with("AT+CGDCONT"))
            .count(),
        1,
        "not sent while known stored, sent to the replaced modem, then known stored again"
    );
    assert_eq!(modem.stored().baud, FACTORY_BAUD);
    assert!(sim.script_done());
}

mod socket {
    //! The socket service in transparent mode: one connection for the wake's requests.

    use super::*;
    use smartbox_firmware::http::Transport;
    use smartbox_firmware::http1::request_head;

    const CREATED: &[u8] = b"HTTP/1.1 201 Created\r\ncontent-length: 17\r\n\r\n{\"complete\":true}";
    const HEARTBEAT: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n{}";

    fn request<'a>(headers: &'a SignedHeaders, body: &'a [u8], last: bool) -> Request<'a> {
        Request {
            method: Method::Post,
            path: "/api/device/v1/events",
            content_type: Some("application/json"),
            headers,
            body,
            range: None,
            last,
        }
    }

    fn sent_len(request: &Request<'_>) -> usize {
        request_head(request, "api.smartbox.test", request.last)
            .expect("fits")
            .len()
            + request.body.len()
    }

    const CCHOPEN: &str = "AT+CCHOPEN=0,\"api.smartbox.test\",443,2";
    const CONNECT: &str = "\r\nCONNECT 115200\r\n";

    /// The service started and the connection opened: data mode.
    fn script_connect(sim: &Sim) -> &Sim {
        script_open(sim);
        sim.expect_later(CCHOPEN, &[(900, CONNECT)])
    }

    fn script_open(sim: &Sim) {
        sim.expect(&format!("AT+CCHMODE=1;{SSL_CONTEXT}"), OK)
            .expect_later("AT+CCHSTART", &[(0, OK), (300, "\r\n+CCHSTART: 0\r\n")])
            .expect("AT+CCHSSLCFG=0,0", OK);
    }

    #[test]
    fn requests_share_one_tls_connection_and_the_last_one_closes_it() {
        let sim = Sim::new();
        let headers = headers();
        let first = request(&headers, b"{}", false);
        let last = request(&headers, b"{\"x\":1}", true);
        script_connect(&sim).expect_body_later(sent_len(&first), vec![(400, CREATED.to_vec())]);
        let mut closing = HEARTBEAT.to_vec();
        closing.extend_from_slice(b"\r\nCLOSED\r\n");
        sim.expect_body_later(sent_len(&last), vec![(300, closing)]);
        let mut modem = modem(&sim, "https://api.smartbox.test");
        let mut out = [0; 64];
        let answer = block_on(modem.send(&first, &mut out)).expect("first answered");
        assert_eq!(answer.status, 201);
        assert_eq!(&out[..answer.body_len], b"{\"complete\":true}");
        let answer = block_on(modem.send(&last, &mut out)).expect("last answered");
        assert_eq!((answer.status, answer.date), (200, Some(1_767_225_600)));
        assert_eq!(modem.transport(), Some(Transport::Socket));
        assert!(sim.script_done());
        let bodies = sim.bodies();
        assert!(bodies[0].starts_with(b"POST /api/device/v1/events HTTP/1.1\r\n"));
        assert!(bodies[0].ends_with(b"\r\n\r\n{}"));
        assert!(!bodies[0].windows(17).any(|w| w == b"Connection: close"));
        assert!(bodies[1].windows(17).any(|w| w == b"Connection: close"));
        let counters = modem.counters();
        assert_eq!(
            counters.tx,
            (sent_len(&first) + sent_len(&last)) as u64,
            "every byte sent is counted"
        );
        assert_eq!(counters.rx, (CREATED.len() + HEARTBEAT.len()) as u64);

        // The connection is closed: another request opens a new one (the service stays up),
        // and AT+CPOF goes straight out, no escape needed.
        sim.expect_later(CCHOPEN, &[(900, CONNECT)])
            .expect_body_later(sent_len(&first), vec![(400, CREATED.to_vec())])
            .expect("+++", OK)
            .expect_later("AT+CPOF", &[(0, OK), (2_000, "\r\nPOWERED DOWN\r\n")]);
        block_on(modem.send(&first, &mut out)).expect("answered again");
        let before_off = sim.now();
        block_on(modem.power_off()).expect("off");
        let commands = sim.commands();
        let escape = commands.iter().find(|(_, c)| c == "+++").expect("escaped");
        assert!(
            escape.0 >= before_off + 1_000,
            "one second of silence before +++"
        );
        assert!(sim.script_done());
    }

    #[test]
    fn a_connection_that_cannot_be_opened_falls_back_to_the_http_stack() {
        let sim = Sim::new();
        script_open(&sim);
        sim.expect_later(CCHOPEN, &[(0, OK), (600, "\r\n+CCHOPEN: 0,14\r\n")]);
        let body = b"{}";
        script_post_until_action(&sim, body);
        sim.expect_later(
            "AT+HTTPACTION=1",
            &[(0, OK), (900, "\r\n+HTTPACTION: 1,201,0\r\n")],
        );
        // The rest of the power cycle stays on the stack: no second CCHOPEN.
        sim.expect(
            &format!(
                "AT+HTTPPARA=\"URL\",\"https://api.smartbox.test/api/device/v1/events\";\
                 +HTTPPARA=\"CONTENT\",\"application/json\";+HTTPPARA=\"USERDATA\",\"{USERDATA}\""
            ),
            OK,
        )
        .expect("AT+HTTPDATA=2,10", "\r\nDOWNLOAD\r\n")
        .expect_body(2, OK)
        .expect_later(
            "AT+HTTPACTION=1",
            &[(0, OK), (900, "\r\n+HTTPACTION: 1,200,0\r\n")],
        );
        let mut modem = modem(&sim, "https://api.smartbox.test");
        let headers = headers();
        let answer = block_on(modem.send(&request(&headers, body, false), &mut [0; 8]));
        assert_eq!(answer.map(|a| a.status), Ok(201));
        assert_eq!(modem.transport(), Some(Transport::HttpStack));
        let answer = block_on(modem.send(&request(&headers, body, true), &mut [0; 8]));
        assert_eq!(answer.map(|a| a.status), Ok(200));
        assert!(sim.script_done());
    }

    #[test]
    fn closed_mid_response_is_a_link_error_and_the_next_request_reconnects() {
        let sim = Sim::new();
        let headers = headers();
        let first = request(&headers, b"{}", false);
        script_open(&sim);
        // 40 bytes announced, 12 sent before the server went away.
        let cut = b"HTTP/1.1 201 Created\r\ncontent-length: 40\r\n\r\n{\"complete\":\r\nCLOSED\r\n"
            .to_vec();
        sim.expect_later(CCHOPEN, &[(900, CONNECT)])
            .expect_body_later(sent_len(&first), vec![(400, cut)])
            .expect_later(CCHOPEN, &[(900, CONNECT)])
            .expect_body_later(sent_len(&first), vec![(400, CREATED.to_vec())]);
        let mut modem = modem(&sim, "https://api.smartbox.test");
        let start = sim.now();
        let answer = block_on(modem.send(&first, &mut [0; 64]));
        assert_eq!(answer, Err(NetError::Link));
        assert!(
            sim.now() - start < 3_000,
            "a cut body is noticed within a second of silence, not at the deadline"
        );
        let answer = block_on(modem.send(&first, &mut [0; 64])).expect("answered");
        assert_eq!(answer.status, 201);
        assert!(sim.script_done());
    }

    #[test]
    fn a_status_line_replaced_by_closed_or_no_carrier_is_a_link_error() {
        for marker in ["\r\nCLOSED\r\n", "\r\nNO CARRIER\r\n"] {
            let sim = Sim::new();
            let headers = headers();
            let first = request(&headers, b"{}", false);
            script_connect(&sim)
                .expect_body(sent_len(&first), marker)
                // In command mode again: AT+CPOF goes without an escape.
                .expect_later("AT+CPOF", &[(0, OK), (2_000, "\r\nPOWERED DOWN\r\n")]);
            let mut modem = modem(&sim, "https://api.smartbox.test");
            let answer = block_on(modem.send(&first, &mut [0; 64]));
            assert_eq!(answer, Err(NetError::Link), "{marker:?}");
            block_on(modem.power_off()).expect("off");
            assert!(sim.script_done(), "{marker:?}");
        }
    }

    #[test]
    fn a_silent_server_times_out_and_the_retry_escapes_closes_and_reconnects() {
        let sim = Sim::new();
        let headers = headers();
        let first = request(&headers, b"{}", false);
        script_connect(&sim)
            .expect_body_later(sent_len(&first), vec![])
            .expect("+++", OK)
            .expect_later("AT+CCHCLOSE=0", &[(0, OK), (100, "\r\nCLOSED\r\n")])
            .expect_later(CCHOPEN, &[(900, CONNECT)])
            .expect_body_later(sent_len(&first), vec![(400, CREATED.to_vec())]);
        let mut modem = modem(&sim, "https://api.smartbox.test");
        let start = sim.now();
        let answer = block_on(modem.send(&first, &mut [0; 64]));
        assert_eq!(answer, Err(NetError::Timeout));
        assert!(sim.now() - start >= 130_000);
        let answer = block_on(modem.send(&first, &mut [0; 64])).expect("answered");
        assert_eq!(answer.status, 201);
        assert!(sim.script_done());
    }

    #[test]
    fn garbage_instead_of_a_status_line_is_refused_not_guessed() {
        let sim = Sim::new();
        let headers = headers();
        let first = request(&headers, b"{}", false);
        script_connect(&sim).expect_body(sent_len(&first), "HTTP/1.1 21 Created\r\n\r\n");
        let mut modem = modem(&sim, "https://api.smartbox.test");
        assert_eq!(
            block_on(modem.send(&first, &mut [0; 64])),
            Err(NetError::Link)
        );
        assert!(sim.script_done());
    }

    #[test]
    fn requests_sent_ahead_are_answered_in_order_and_a_later_request_reads_what_is_left() {
        let sim = Sim::new();
        let headers = headers();
        let first = request(&headers, b"{}", false);
        let second = request(&headers, b"{\"y\":2}", false);
        let accepted = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";
        // The server answers in order: the second answer after the first.
        script_connect(&sim)
            .expect_body_later(sent_len(&first), vec![(100, CREATED.to_vec())])
            .expect_body_later(sent_len(&second), vec![(300, accepted.to_vec())])
            .expect_body_later(sent_len(&first), vec![(200, CREATED.to_vec())])
            .expect_body_later(sent_len(&second), vec![(200, accepted.to_vec())]);
        let mut modem = modem(&sim, "https://api.smartbox.test");
        assert_eq!(block_on(modem.send_ahead(&first)), Ok(true));
        let written = sim.now();
        assert_eq!(block_on(modem.send_ahead(&second)), Ok(true));
        assert!(sim.now() - written < 100, "the second goes without waiting");
        let mut out = [0; 64];
        let answer = block_on(modem.receive_ahead(&mut out)).expect("first answer");
        assert_eq!(
            (answer.status, &out[..answer.body_len]),
            (201, &b"{\"complete\":true}"[..])
        );
        let answer = block_on(modem.receive_ahead(&mut [])).expect("second answer");
        assert_eq!(answer.status, 202);
        assert_eq!(
            block_on(modem.receive_ahead(&mut [])),
            Err(NetError::Link),
            "nothing is due"
        );
        // Sent ahead and not read: an ordinary request skips that answer for its own.
        assert_eq!(block_on(modem.send_ahead(&first)), Ok(true));
        let answer = block_on(modem.send(&second, &mut [])).expect("its own answer");
        assert_eq!(answer.status, 202);
        assert!(sim.script_done());
    }

    #[test]
    fn without_the_socket_service_nothing_is_sent_ahead() {
        let sim = Sim::new();
        script_open(&sim);
        sim.expect_later(CCHOPEN, &[(0, OK), (600, "\r\n+CCHOPEN: 0,14\r\n")]);
        let mut modem = modem(&sim, "https://api.smartbox.test");
        let headers = headers();
        assert_eq!(
            block_on(modem.send_ahead(&request(&headers, b"{}", false))),
            Ok(false)
        );
        assert!(sim.script_done());
        assert!(sim.bodies().is_empty());
    }

    /// A driver whose modem holds no CA yet (a new one, or one whose copy was damaged).
    fn fresh_modem(sim: &Sim) -> Modem {
        let mut modem = modem(sim, "https://api.smartbox.test");
        modem.recall(Stored::default());
        modem
    }

    fn script_cert_download(sim: &Sim) -> &Sim {
        sim.expect(
            &format!("AT+CCERTDOWN=\"smartbox_ca.pem\",{}", CA.len()),
            "\r\n>",
        )
        .expect_body(CA.len(), OK)
    }

    #[test]
    fn the_ca_is_stored_in_the_modem_once_and_server_authentication_is_set_every_power_cycle() {
        let sim = Sim::new();
        let headers = headers();
        let first = request(&headers, b"{}", false);
        script_cert_download(&sim);
        script_connect(&sim).expect_body_later(sent_len(&first), vec![(400, CREATED.to_vec())]);
        let mut modem = fresh_modem(&sim);
        let answer = block_on(modem.send(&first, &mut [0; 64])).expect("answered");
        assert_eq!(answer.status, 201);
        assert_eq!(sim.bodies()[0], CA, "the certificate's bytes, as they are");
        assert_eq!(modem.stored().ca_tag, ca_tag(CA), "kept for the next wake");
        assert!(sim.script_done());

        // The next power cycle: the modem holds the CA, the context is set again.
        let stored = modem.stored();
        let sim = Sim::new();
        script_connect(&sim).expect_body_later(sent_len(&first), vec![(400, CREATED.to_vec())]);
        let mut modem = modem_with(&sim, stored);
        let answer = block_on(modem.send(&first, &mut [0; 64])).expect("answered");
        assert_eq!(answer.status, 201);
        assert!(
            !sim.command_names()
                .iter()
                .any(|c| c.starts_with("AT+CCERTDOWN")),
            "{:?}",
            sim.command_names()
        );
        assert!(sim.script_done());
    }

    fn modem_with(sim: &Sim, stored: Stored) -> Modem {
        let mut modem = modem(sim, "https://api.smartbox.test");
        modem.recall(stored);
        modem
    }

    #[test]
    fn a_server_whose_certificate_does_not_verify_gets_nothing_and_the_ca_is_sent_again_next_time()
    {
        let sim = Sim::new();
        script_open(&sim);
        // The Manual's SSL result code 15: handshake failed. No fallback to the HTTP stack.
        sim.expect_later(CCHOPEN, &[(0, OK), (900, "\r\n+CCHOPEN: 0,15\r\n")]);
        let mut modem = modem(&sim, "https://api.smartbox.test");
        let headers = headers();
        assert_eq!(
            block_on(modem.send(&request(&headers, b"{}", false), &mut [0; 8])),
            Err(NetError::Tls)
        );
        assert!(sim.bodies().is_empty(), "nothing sent");
        assert!(sim.script_done());
        assert_eq!(modem.stored().ca_tag, 0);
    }

    #[test]
    fn a_wrong_answer_to_an_ssl_command_is_a_clear_error_and_nothing_is_sent() {
        let headers = headers();
        // The certificate refused at its prompt.
        let sim = Sim::new();
        sim.expect(
            &format!("AT+CCERTDOWN=\"smartbox_ca.pem\",{}", CA.len()),
            "\r\n+CME ERROR: 4\r\n",
        );
        let mut fresh = fresh_modem(&sim);
        assert_eq!(
            block_on(fresh.send(&request(&headers, b"{}", false), &mut [0; 8])),
            Err(NetError::Tls)
        );
        assert!(sim.script_done());

        // The SSL context refused (the CA file missing from the modem).
        let sim = Sim::new();
        sim.expect(&format!("AT+CCHMODE=1;{SSL_CONTEXT}"), "\r\nERROR\r\n");
        let mut context = modem(&sim, "https://api.smartbox.test");
        assert_eq!(
            block_on(context.send(&request(&headers, b"{}", false), &mut [0; 8])),
            Err(NetError::Tls)
        );
        assert!(sim.script_done());
        assert_eq!(context.stored().ca_tag, 0, "sent again next time");

        // The session not bound to the context.
        let sim = Sim::new();
        sim.expect(&format!("AT+CCHMODE=1;{SSL_CONTEXT}"), OK)
            .expect_later("AT+CCHSTART", &[(0, OK), (300, "\r\n+CCHSTART: 0\r\n")])
            .expect("AT+CCHSSLCFG=0,0", "\r\n+CME ERROR: 3\r\n");
        let mut bind = modem(&sim, "https://api.smartbox.test");
        assert_eq!(
            block_on(bind.send(&request(&headers, b"{}", false), &mut [0; 8])),
            Err(NetError::Tls)
        );
        assert!(sim.bodies().is_empty(), "nothing sent");

        // The HTTP stack: the same context, the step named.
        let sim = Sim::new();
        sim.expect("AT+HTTPINIT", OK)
            .expect(&format!("AT{SSL_CONTEXT}"), "\r\nERROR\r\n")
            .expect("AT+HTTPTERM", OK);
        let mut stack = modem(&sim, "https://api.smartbox.test");
        assert_eq!(
            block_on(stack.http(Method::Get, "/x", None, "", &[], &mut [0; 8])),
            Err(ModemError::Ssl(SslStep::Context))
        );
        assert!(sim.script_done());
    }

    #[test]
    fn https_without_a_ca_is_refused_before_any_command() {
        let sim = Sim::new();
        let settings = Settings {
            base_url: String::try_from("https://api.smartbox.test").expect("fits"),
            apn: String::try_from("iot.test").expect("fits"),
            uart_baud: FACTORY_BAUD,
            ca_cert: None,
        };
        let mut modem = A7670::new(sim.uart(), sim.pwrkey_pin(), sim.clone(), settings);
        let headers = headers();
        assert_eq!(
            block_on(modem.send(&request(&headers, b"{}", false), &mut [0; 8])),
            Err(NetError::Tls)
        );
        assert!(sim.commands().is_empty());
    }
}
