//! Untrusted input: neither decoder may panic, and neither may take time
//! that grows faster than the input.

use cairn_wire::exposition::{parse, render};
use cairn_wire::remote_write::{decode_write_request, encode_write_request, into_series};
use prost::Message;

use crate::{assert_same_exposition, dump};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Text drawn mostly from the characters that matter to the parser.
    fn exposition_text(&mut self, max_len: usize) -> String {
        const ALPHABET: &[&str] = &[
            "a",
            "_",
            ":",
            "0",
            "1",
            "e",
            "x",
            "p",
            ".",
            "-",
            "+",
            "{",
            "}",
            "=",
            "\"",
            ",",
            "\\",
            "n",
            " ",
            "\t",
            "\n",
            "\r",
            "#",
            "HELP",
            "TYPE",
            "UNIT",
            "EOF",
            "counter",
            "histogram",
            "Inf",
            "NaN",
            "le",
            "__name__",
            "é",
            "\u{0}",
        ];
        let len = self.below(max_len + 1);
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len())])
            .collect()
    }
}

/// Checks the invariant that whatever parses renders to text that parses to
/// the same document.
fn check_parse_render_parse(text: &str) {
    if let Ok(doc) = parse(text) {
        let rendered = render(&doc.samples, &doc.metadata);
        let again = parse(&rendered)
            .unwrap_or_else(|e| panic!("rendering of {text:?} does not parse: {e}\n{rendered}"));
        assert_same_exposition(&doc, &again);
    }
}

#[test]
fn random_text_never_panics_and_what_parses_round_trips() {
    let mut rng = Rng(0x5eed_cafe);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let text = rng.exposition_text(60);
        parsed += usize::from(parse(&text).is_ok());
        check_parse_render_parse(&text);
        let bytes = rng.bytes(60);
        check_parse_render_parse(&String::from_utf8_lossy(&bytes));
    }
    // The generator must reach the success paths too, not only errors.
    assert!(parsed > 100, "only {parsed} random documents parsed");
}

const DOCUMENT: &str = "# HELP a_seconds Help with \\\\ and \\n.\n\
    # TYPE a_seconds histogram\n\
    a_seconds_bucket{le=\"0.5\",path=\"/x\\\"y\"} 3 1000\n\
    a_seconds_bucket{le=\"+Inf\",path=\"/x\\\"y\"} 4 1000\n\
    a_seconds_sum{path=\"/x\\\"y\"} NaN\n\
    a_seconds_count{path=\"/x\\\"y\"} 4\n\
    plain{é=\"ü\"} 1\n";

#[test]
fn every_prefix_of_a_document_is_handled_and_whole_lines_parse() {
    // `é` is not a valid label name, so the full document fails on its last
    // line; every prefix must still come back without panicking.
    let full = parse(DOCUMENT).unwrap_err();
    assert_eq!(
        full.to_string(),
        "line 7: expected a label name or '}', found 'é'"
    );

    let whole = &DOCUMENT[..DOCUMENT.rfind("plain").unwrap()];
    let expected = parse(whole).unwrap();
    assert_eq!(expected.samples.len(), 4);
    for cut in (0..=DOCUMENT.len()).filter(|&i| DOCUMENT.is_char_boundary(i)) {
        let prefix = &DOCUMENT[..cut];
        let result = parse(prefix);
        check_parse_render_parse(prefix);
        if prefix.ends_with('\n') && cut <= whole.len() {
            let doc = result.unwrap_or_else(|e| panic!("prefix {prefix:?}: {e}"));
            let lines = doc.samples.len();
            assert_eq!(dump(&doc.samples), dump(&expected.samples[..lines]));
        }
    }
}

#[test]
fn mutated_documents_never_panic() {
    // Bytes that matter to the parser, and a lone UTF-8 lead byte.
    const MUTATIONS: &[u8] = b"{}=\",\\ \n#0a\xc3";
    let mut rng = Rng(42);
    let source = DOCUMENT.as_bytes();
    for _ in 0..5_000 {
        let mut bytes = source.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len());
            bytes[at] = MUTATIONS[rng.below(MUTATIONS.len())];
        }
        check_parse_render_parse(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn random_and_mutated_remote_write_bodies_never_panic() {
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let _ = decode_write_request(&rng.bytes(64));
    }

    // Mutate valid protobufs and compress them properly, so that the
    // protobuf decoder and the label validation see the damage.
    let golden = cairn_wire::remote_write::WriteRequest {
        timeseries: vec![cairn_wire::remote_write::TimeSeries {
            labels: vec![
                cairn_wire::remote_write::Label {
                    name: "__name__".into(),
                    value: "up".into(),
                },
                cairn_wire::remote_write::Label {
                    name: "job".into(),
                    value: "node".into(),
                },
            ],
            samples: vec![cairn_wire::remote_write::Sample {
                value: 1.0,
                timestamp: 1000,
            }],
            ..Default::default()
        }],
        metadata: vec![],
    }
    .encode_to_vec();
    let mut decoded_ok = 0;
    for _ in 0..20_000 {
        let mut protobuf = golden.clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(protobuf.len());
            protobuf[at] = rng.next() as u8;
        }
        let body = snap::raw::Encoder::new().compress_vec(&protobuf).unwrap();
        if let Ok(req) = decode_write_request(&body) {
            decoded_ok += 1;
            // Whatever decodes re-encodes to an equivalent request.
            let again = decode_write_request(&encode_write_request(&req)).unwrap();
            assert_eq!(again.encode_to_vec(), req.encode_to_vec());
            let _ = into_series(req);
        }
    }
    assert!(decoded_ok > 1_000, "only {decoded_ok} mutations decoded");
}

#[test]
fn huge_lines_are_parsed_in_linear_time() {
    // Each of these would take minutes with a quadratic step.
    const N: usize = 200_000;

    let mut many_labels = String::from("wide{");
    for i in 0..N {
        many_labels.push_str(&format!("l{i}=\"v\","));
    }
    many_labels.push_str("} 1\n");
    let doc = parse(&many_labels).unwrap();
    assert_eq!(doc.samples[0].labels.len(), N + 1);

    let escapes = format!("long{{v=\"{}\"}} 1\n", "\\\\".repeat(N));
    let doc = parse(&escapes).unwrap();
    assert_eq!(doc.samples[0].labels[1].1.len(), N);

    let unterminated = format!("long{{v=\"{}", "\\\"".repeat(N));
    assert!(parse(&unterminated).is_err());

    let mut families = String::new();
    for i in 0..N {
        families.push_str(&format!("# TYPE f{i} gauge\nf{i} {i}\n"));
    }
    let doc = parse(&families).unwrap();
    assert_eq!(doc.metadata.len(), N);
    assert_eq!(render(&doc.samples, &doc.metadata), families);

    let braces = "{".repeat(N) + " 1";
    assert!(parse(&braces).is_err());
    let digits = format!("x {}", "9".repeat(N));
    assert_eq!(parse(&digits).unwrap().samples[0].value, f64::INFINITY);
}
