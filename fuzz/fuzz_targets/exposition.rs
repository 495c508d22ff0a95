//! Any text an exporter returns parses or fails cleanly, and what parses renders and
//! parses back to the same.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(exp) = cairn_wire::exposition::parse(text) {
        let again = cairn_wire::exposition::render(&exp.samples, &exp.metadata);
        let back = cairn_wire::exposition::parse(&again).expect("rendered text parses");
        assert_eq!(back.samples.len(), exp.samples.len());
    }
});
