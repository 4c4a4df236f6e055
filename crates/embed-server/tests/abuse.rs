//! The server under abuse, on loopback with the real model: slow clients that dribble
//! headers or bodies, thousands of idle connections, the connection cap, bodies just over
//! every limit, deeply nested and huge JSON, invalid UTF-8, and clients that hang up
//! mid-request. Throughout, a prober sends well-formed requests to every family and
//! checks each answer against the vector it got alone (so no accepted request is lost
//! and none is wrong); every bad request is a 4xx in its family's shape, never a 500;
//! and the process's resident memory stays within a bound.
//!
//! Every loop is bounded, and no assertion depends on how fast the machine is: a slow
//! client is given many times its timeout to be cut off.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

use common::families::Route;
use common::probe::{Prober, metric, wait_until};
use common::raw::{self, RawReply};
use common::{TestServer, bits};
use embed_server::ServerConfig;
use serde_json::json;

/// Memory and the metrics are the process's: these tests run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// How much resident memory a test's abuse may add to the process (MiB). The server's
/// own allocations under the worst of it: a 16 MiB body buffered and parsed into a
/// `serde_json` value a few times over, a read buffer of about 8 KiB for each of 2000
/// idle connections (16 MiB), the prober's and the tests' own threads. The model is
/// memory-mapped and already resident before the test starts, so it is not in the
/// difference.
const RSS_GROWTH_MIB: u64 = 256;

/// The resident set at a test's start, to compare with its end.
struct Memory {
    start_kib: u64,
}

impl Memory {
    fn now() -> Memory {
        Memory {
            start_kib: raw::status_kib("VmRSS"),
        }
    }

    /// Panics if resident memory grew by more than [`RSS_GROWTH_MIB`]; returns the
    /// growth in MiB.
    fn check(&self, what: &str) -> u64 {
        let now = raw::status_kib("VmRSS");
        let grown = now.saturating_sub(self.start_kib) / 1024;
        eprintln!(
            "{what}: RSS {} MiB at the start, {} MiB now (+{grown} MiB)",
            self.start_kib / 1024,
            now / 1024
        );
        assert!(
            grown <= RSS_GROWTH_MIB,
            "{what}: resident memory grew by {grown} MiB (bound {RSS_GROWTH_MIB} MiB)"
        );
        grown
    }
}

/// Checks a refusal: the wanted 4xx (or any 4xx) in the family's error shape.
fn assert_refused(route: Route, reply: &RawReply, want: Option<u16>, case: &str) {
    match want {
        Some(s) => assert_eq!(reply.status, s, "{route:?} {case}: {}", reply.text()),
        None => assert!(
            (400..500).contains(&reply.status),
            "{route:?} {case}: {} {}",
            reply.status,
            reply.text()
        ),
    }
    if let Err(e) = route.error_message(reply.status, &reply.json()) {
        panic!("{case}: {e}");
    }
}

/// POSTs `bytes` to `route` on a new connection; panics, naming the case, without an
/// answer.
fn send(url: &str, route: Route, bytes: &[u8], case: &str) -> RawReply {
    raw::try_exchange(url, &raw::request(route.path(), bytes))
        .unwrap_or_else(|e| panic!("{route:?} {case}: no answer: {e}"))
}

/// Sends `bytes` to `route` and checks the answer is a 4xx in its shape.
fn refused(url: &str, route: Route, bytes: &[u8], want: Option<u16>, case: &str) {
    let reply = send(url, route, bytes, case);
    assert_refused(route, &reply, want, case);
}

/// Sends `bytes` and checks the answer is a 200 with a vector, or a 4xx in the family's
/// shape: for inputs that are valid JSON but absurd, either is right.
fn answered_or_refused(url: &str, route: Route, bytes: &[u8], case: &str) {
    let reply = send(url, route, bytes, case);
    if reply.status == 200 {
        assert_eq!(route.vector(&reply.json()).len(), 768, "{route:?} {case}");
    } else {
        assert_refused(route, &reply, None, case);
    }
}

/// Dribbles `bytes` one byte every 50 ms (at most 400 bytes: 20 s); returns whether
/// the server closed the connection before they ran out.
fn dribble(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    for b in bytes.iter().take(400) {
        if stream.write_all(std::slice::from_ref(b)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    raw::closed_by_server(stream, Duration::from_millis(10))
}

#[test]
fn slow_clients_are_cut_off_while_others_are_served() {
    let _serial = serial();
    let Some(model) = common::embedder("slow_clients_are_cut_off_while_others_are_served") else {
        return;
    };
    // Timeouts of a second or two against dribbles of up to 20 s: a cut-off is certain
    // long before the dribble runs out, however loaded the machine.
    let config = ServerConfig::default()
        .with_header_read_timeout(Duration::from_secs(1))
        .with_body_read_timeout(Duration::from_secs(2));
    let server = TestServer::start(config, model);
    let memory = Memory::now();
    let body_timeouts = metric(
        &server.url,
        "embed_server_rejections_total{reason=\"body_timeout\"}",
    );
    let prober = Prober::start(&server.url);
    let clients = 64;
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let url = server.url.clone();
            std::thread::spawn(move || {
                let route = Route::ALL[i % 4];
                let mut s = raw::connect(&url);
                if i % 2 == 0 {
                    // Headers that never end.
                    s.write_all(
                        format!("POST {} HTTP/1.1\r\nHost: t\r\n", route.path()).as_bytes(),
                    )
                    .expect("the start of a head");
                    let endless = b"X-Slow: a\r\n".repeat(40);
                    assert!(
                        dribble(&mut s, &endless),
                        "client {i}: dribbled headers were never cut off"
                    );
                } else {
                    // A body that never ends: the server answers 408 in the family's shape.
                    s.write_all(&raw::head(route.path(), 10_000))
                        .expect("a head");
                    let mut reader = s.try_clone().expect("a second handle");
                    let writer = std::thread::spawn(move || dribble(&mut s, &[b' '; 400]));
                    let reply = raw::read_reply(&mut reader).expect("a 408 before the close");
                    assert_refused(route, &reply, Some(408), "a dribbled body");
                    assert!(
                        writer.join().unwrap(),
                        "client {i}: the dribbled body's connection stayed open"
                    );
                }
            })
        })
        .collect();
    // An idle keep-alive connection is closed after the header timeout too.
    let mut idle = raw::connect(&server.url);
    idle.write_all(&raw::request(
        Route::OpenAi.path(),
        Route::OpenAi.request("hi").as_bytes(),
    ))
    .expect("a request");
    assert_eq!(raw::read_reply(&mut idle).expect("an answer").status, 200);
    assert!(
        raw::closed_by_server(&mut idle, Duration::from_secs(20)),
        "an idle keep-alive connection stayed open"
    );
    for t in threads {
        t.join().unwrap();
    }
    let probed = prober.finish();
    let timeouts = metric(
        &server.url,
        "embed_server_rejections_total{reason=\"body_timeout\"}",
    );
    assert!(
        timeouts - body_timeouts >= (clients / 2) as f64,
        "body timeouts counted: {timeouts} (from {body_timeouts})"
    );
    eprintln!("slow clients: {clients} cut off, {probed} well-formed answers checked meanwhile");
    memory.check("slow clients");
}

#[test]
fn thousands_of_idle_connections_cost_little() {
    let _serial = serial();
    let Some(model) = common::embedder("thousands_of_idle_connections_cost_little") else {
        return;
    };
    // In process, each connection is two descriptors (the client's and the server's):
    // hold 2000 if the soft limit allows, and leave 256 for everything else.
    let limit = raw::open_files_limit();
    let count = 2000.min(limit.saturating_sub(256) as usize / 2);
    assert!(
        count >= 256,
        "the open-file limit ({limit}) leaves room for only {count} connections: raise `ulimit -n`"
    );
    if count < 2000 {
        eprintln!("idle connections: {count}, not 2000, to fit the open-file limit {limit}");
    }
    // Above the count: this test is about their cost, the next one about the cap.
    let config = ServerConfig::default().with_max_connections(count + 64);
    let server = TestServer::start(config, model);
    let memory = Memory::now();
    let open_before = metric(&server.url, "embed_server_connections");
    let mut idle: Vec<TcpStream> = Vec::with_capacity(count);
    for i in 0..count {
        let mut s = raw::connect(&server.url);
        if i % 2 == 1 {
            s.write_all(b"POST /v1/embeddings HTTP/1.1\r\nHost: t\r\n")
                .expect("half a head");
        }
        idle.push(s);
    }
    wait_until("the server holds every idle connection", || {
        metric(&server.url, "embed_server_connections") >= open_before + count as f64
    });
    // Held while well-formed requests are answered: two to each family.
    let prober = Prober::start(&server.url);
    prober.wait_for(2 * Route::ALL.len());
    let probed = prober.finish();
    let grown = memory.check("idle connections");
    eprintln!(
        "idle connections: {count} held, {probed} well-formed answers checked meanwhile, +{grown} MiB"
    );
    drop(idle);
    wait_until("the server lets the idle connections go", || {
        metric(&server.url, "embed_server_connections") <= open_before + 1.0
    });
}

#[test]
fn at_the_connection_cap_new_connections_wait_for_a_free_slot() {
    let _serial = serial();
    let Some(model) =
        common::embedder("at_the_connection_cap_new_connections_wait_for_a_free_slot")
    else {
        return;
    };
    let cap = 8;
    let config = ServerConfig::default()
        .with_max_connections(cap)
        .with_header_read_timeout(Duration::from_secs(2));
    let server = TestServer::start(config, model);
    let want = common::probe::reference_vectors(&server.url);
    let open_before = metric(&server.url, "embed_server_connections");
    let mut idle: Vec<TcpStream> = (0..cap).map(|_| raw::connect(&server.url)).collect();
    // The metrics request itself takes a slot while it runs, so wait for all but it.
    wait_until("the idle connections fill the cap", || {
        metric(&server.url, "embed_server_connections") >= open_before + (cap - 1) as f64
    });
    // One over the cap: accepted by the kernel, served once an idle connection times out.
    let (route, vector) = &want[0];
    let reply = raw::exchange(
        &server.url,
        &raw::request(
            route.path(),
            route.request(common::probe::PROBE_TEXT).as_bytes(),
        ),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(&bits(&route.vector(&reply.json())), vector);
    // It was answered only after the idle connections were closed: the cap held it back.
    for (i, s) in idle.iter_mut().enumerate() {
        assert!(
            raw::closed_by_server(s, Duration::from_millis(500)),
            "idle connection {i} is still open: the request over the cap was served beside it"
        );
    }
}

/// The token count of one text of `words` words, from an OpenAI answer's usage.
fn tokens(url: &str, words: usize) -> u64 {
    let r = raw::exchange(
        url,
        &raw::request(
            "/v1/embeddings",
            json!({"input": [words_text(words)]}).to_string().as_bytes(),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["usage"]["prompt_tokens"]
        .as_u64()
        .expect("a token count")
}

fn words_text(n: usize) -> String {
    vec!["word"; n].join(" ")
}

/// `body` padded with spaces after its opening brace to exactly `len` bytes.
fn padded(body: &str, len: usize) -> Vec<u8> {
    assert!(body.len() <= len && body.starts_with('{'));
    let mut out = b"{".to_vec();
    out.extend(std::iter::repeat_n(b' ', len - body.len()));
    out.extend_from_slice(&body.as_bytes()[1..]);
    out
}

#[test]
fn bodies_just_over_every_limit_are_refused_and_at_it_answered() {
    let _serial = serial();
    let Some(model) =
        common::embedder("bodies_just_over_every_limit_are_refused_and_at_it_answered")
    else {
        return;
    };
    let (max_body, max_inputs, max_request_tokens, max_input_tokens) = (4096, 4, 40, 16);
    let config = ServerConfig::default()
        .with_max_body_bytes(max_body)
        .with_max_inputs(max_inputs)
        .with_max_request_tokens(max_request_tokens)
        .with_max_input_tokens(max_input_tokens);
    let server = TestServer::start(config, model);
    let memory = Memory::now();
    let url = &server.url;
    // "word" repeated: one token each, BOS and EOS around them.
    let per_input = max_input_tokens - 2;
    assert_eq!(tokens(url, per_input), max_input_tokens as u64);
    assert_eq!(tokens(url, 6), 8);
    let prober = Prober::start(url);
    for route in Route::ALL {
        let ok = |bytes: &[u8], case: &str| {
            let r = raw::exchange(url, &raw::request(route.path(), bytes));
            assert_eq!(r.status, 200, "{route:?} {case}: {}", r.text());
        };
        let body = route.body(json!(["at the limit"]), json!({}));
        ok(&padded(&body, max_body), "a body of exactly the limit");
        refused(
            url,
            route,
            &padded(&body, max_body + 1),
            Some(413),
            "a body one byte over",
        );
        // A head that announces too much is refused before the body is read.
        let reply = raw::exchange(url, &raw::head(route.path(), max_body + 1));
        assert_refused(route, &reply, Some(413), "a Content-Length one byte over");
        // A chunked body has no length up front: it is counted as it comes.
        let chunked = format!(
            "POST {} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
            route.path(),
            max_body + 1,
            String::from_utf8(padded(&body, max_body + 1)).unwrap()
        );
        let mut s = raw::connect(url);
        s.write_all(chunked.as_bytes()).expect("a chunked request");
        let reply = raw::read_reply(&mut s).expect("an answer");
        assert_refused(route, &reply, Some(413), "a chunked body one byte over");

        let inputs = |n: usize| route.body(json!(vec!["a"; n]), json!({}));
        ok(inputs(max_inputs).as_bytes(), "exactly the most inputs");
        refused(
            url,
            route,
            inputs(max_inputs + 1).as_bytes(),
            None,
            "one input too many",
        );

        // 16 + 16 + 8 = 40 tokens, then 41.
        let (long, short) = (words_text(per_input), words_text(6));
        let at = route.body(json!([long, long, short]), json!({}));
        ok(at.as_bytes(), "exactly the most tokens per request");
        let over = route.body(json!([long, long, words_text(7)]), json!({}));
        refused(
            url,
            route,
            over.as_bytes(),
            Some(413),
            "one token over per request",
        );

        if route != Route::LlamaCpp {
            let strict = json!({"truncate": false});
            let at = route.body(json!([words_text(per_input)]), strict.clone());
            ok(
                at.as_bytes(),
                "an input of exactly the most tokens, truncation off",
            );
            let over = route.body(json!([words_text(per_input + 1)]), strict);
            refused(
                url,
                route,
                over.as_bytes(),
                None,
                "an input one token over, truncation off",
            );
        }
    }
    prober.finish();
    memory.check("limits");
}

/// JSON nested `depth` deep with `open` and `close` inside the input field.
fn nested(route: Route, open: &str, close: &str, depth: usize) -> Vec<u8> {
    format!(
        "{{\"{}\": {}{}}}",
        route.field(),
        open.repeat(depth),
        close.repeat(depth)
    )
    .into_bytes()
}

#[test]
fn hostile_json_and_invalid_utf8_are_4xx_in_each_familys_shape() {
    let _serial = serial();
    let Some(model) =
        common::embedder("hostile_json_and_invalid_utf8_are_4xx_in_each_familys_shape")
    else {
        return;
    };
    let server = TestServer::start(ServerConfig::default(), model);
    let memory = Memory::now();
    let url = &server.url;
    let prober = Prober::start(url);
    let max_body = embed_server::Limits::default().max_body_bytes;
    for route in Route::ALL {
        let f = route.field();
        // Deeply nested: far past serde_json's recursion limit, closed or not.
        refused(
            url,
            route,
            &nested(route, "[", "]", 100_000),
            None,
            "100k nested lists",
        );
        refused(
            url,
            route,
            &nested(route, "[", "", 100_000),
            None,
            "100k unclosed lists",
        );
        refused(
            url,
            route,
            &nested(route, "{\"a\":", "}", 100_000),
            None,
            "100k nested objects",
        );
        let deep_extra = format!(
            "{{\"{f}\": \"hi\", \"x\": {}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        // serde_json skips an unknown field without recursing: valid JSON, so a 200.
        answered_or_refused(
            url,
            route,
            deep_extra.as_bytes(),
            "100k nested lists in an unknown field",
        );
        // Huge but within the body limit.
        let many_keys: String = (0..200_000).map(|i| format!(",\"k{i}\":0")).collect();
        let body = format!("{{\"{f}\": \"hi\"{many_keys}}}");
        answered_or_refused(url, route, body.as_bytes(), "200k unknown keys");
        let dup: String = (0..100_000).map(|_| format!(",\"{f}\":\"hi\"")).collect();
        refused(
            url,
            route,
            format!("{{\"{f}\":\"hi\"{dup}}}").as_bytes(),
            None,
            "100k duplicate input keys",
        );
        let long = "x".repeat(max_body - 100);
        let body = format!("{{\"{f}\": \"hi\", \"junk\": \"{long}\"}}");
        answered_or_refused(
            url,
            route,
            body.as_bytes(),
            "a 16 MiB string in an unknown field",
        );
        let list = route.body(json!(vec!["a"; 100_000]), json!({}));
        refused(url, route, list.as_bytes(), None, "100k inputs");
        let numbers = route.body(json!(vec![999_999_999; 1_000_000]), json!({}));
        refused(
            url,
            route,
            numbers.as_bytes(),
            None,
            "a million token ids outside the vocabulary",
        );
        // llama.cpp's route has no `dimensions`: it skips the field like any unknown one.
        let numbers: &[&str] = if route == Route::LlamaCpp {
            &[]
        } else {
            &["1e400", "-1", "18446744073709551616", "1.5", "NaN"]
        };
        for number in numbers {
            let body = format!("{{\"{f}\": \"hi\", \"dimensions\": {number}}}");
            refused(
                url,
                route,
                body.as_bytes(),
                None,
                &format!("dimensions {number}"),
            );
        }
        // Invalid UTF-8 in a string, in a key, and outside any string; a lone surrogate.
        let utf8_cases: [(&str, Vec<u8>); 7] = [
            (
                "0xFF in the input",
                [format!("{{\"{f}\": \"a").as_bytes(), b"\xff\xfe", b"\"}"].concat(),
            ),
            (
                "a cut multibyte",
                [format!("{{\"{f}\": \"a").as_bytes(), b"\xe2\x82", b"\"}"].concat(),
            ),
            (
                "an overlong slash",
                [format!("{{\"{f}\": \"").as_bytes(), b"\xc0\xaf", b"\"}"].concat(),
            ),
            (
                "an encoded surrogate",
                [format!("{{\"{f}\": \"").as_bytes(), b"\xed\xa0\x80", b"\"}"].concat(),
            ),
            (
                "0xFF in a key",
                [
                    b"{\"".as_slice(),
                    b"\xff",
                    format!("\": 1, \"{f}\": \"a\"}}").as_bytes(),
                ]
                .concat(),
            ),
            (
                "0xFF outside strings",
                [format!("{{\"{f}\": \"a\"").as_bytes(), b"\xff", b"}"].concat(),
            ),
            (
                "a lone surrogate escape",
                format!("{{\"{f}\": \"\\ud800\"}}").into_bytes(),
            ),
        ];
        for (case, body) in utf8_cases {
            refused(url, route, &body, None, case);
        }
        // Not JSON at all: a byte-order mark, NULs, binary.
        refused(
            url,
            route,
            b"\xef\xbb\xbf{\"input\": \"a\"}",
            None,
            "a byte-order mark",
        );
        refused(url, route, &[0u8; 1000], None, "NULs");
        let binary: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        refused(url, route, &binary, None, "binary");
    }
    // Still within the family's limits: a NUL inside a string is text like any other.
    let reply = raw::exchange(
        url,
        &raw::request("/v1/embeddings", b"{\"input\": \"a\\u0000b\"}"),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    prober.finish();
    memory.check("hostile JSON");
}

#[test]
fn clients_that_hang_up_mid_request_cost_nothing_to_others() {
    let _serial = serial();
    let Some(model) = common::embedder("clients_that_hang_up_mid_request_cost_nothing_to_others")
    else {
        return;
    };
    let server = TestServer::start(ServerConfig::default(), model);
    let memory = Memory::now();
    let url = &server.url;
    let prober = Prober::start(url);
    let dropped_before = metric(
        url,
        "embed_server_rejections_total{reason=\"disconnected\"}",
    );
    for round in 0..2 {
        for (i, route) in Route::ALL.iter().cycle().take(40).enumerate() {
            let body = route.body(json!([words_text(200)]), json!({}));
            let mut s = raw::connect(url);
            match i % 4 {
                // Half a head.
                0 => s
                    .write_all(&raw::head(route.path(), body.len())[..20])
                    .expect("half a head"),
                // The head and half the body.
                1 => {
                    s.write_all(&raw::head(route.path(), body.len()))
                        .expect("a head");
                    s.write_all(&body.as_bytes()[..body.len() / 2])
                        .expect("half a body");
                }
                // A whole request, and gone before the answer.
                _ => s
                    .write_all(&raw::request(route.path(), body.as_bytes()))
                    .expect("a request"),
            }
            drop(s);
        }
        // A big request (64 inputs of about 500 tokens: 16 passes), gone before its answer.
        let texts: Vec<String> = (0..64).map(|_| words_text(500)).collect();
        let big = json!({"inputs": texts}).to_string();
        let mut s = raw::connect(url);
        s.write_all(&raw::request("/embed", big.as_bytes()))
            .expect("a big request");
        wait_until("the big request is queued", || {
            metric(url, "embed_server_queue_tokens") > 0.0
        });
        drop(s);
        wait_until("the queue drains after the hang-ups", || {
            metric(url, "embed_server_queue_tokens") == 0.0
        });
        eprintln!("hang-ups: round {round} done");
    }
    let probed = prober.finish();
    let dropped = metric(
        url,
        "embed_server_rejections_total{reason=\"disconnected\"}",
    ) - dropped_before;
    eprintln!(
        "hang-ups: {probed} well-formed answers checked meanwhile; {dropped} requests dropped as their clients left"
    );
    memory.check("hang-ups");
    // Still serving, and the queue is empty.
    assert_eq!(common::probe::reference_vectors(url).len(), 4);
}
