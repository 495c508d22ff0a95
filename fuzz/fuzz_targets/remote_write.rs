//! Any body a client sends to the remote-write endpoint decodes or fails cleanly.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = cairn_wire::remote_write::decode_write_request(data) {
        let _ = cairn_wire::remote_write::into_series(req);
    }
});
