//! Fuzzes the inventory protocol parser: framing, requests and responses.
//!
//! Whatever the bytes, parsing never panics; whatever parses re-encodes to a frame that parses
//! back to the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmarket_inventory::protocol::{split_frame, Request, Response};

fuzz_target!(|data: &[u8]| {
    let max_frame = 256;
    // Requests, frame by frame, as the server reads them.
    let mut rest = data;
    while let Ok(Some((frame, used))) = split_frame(rest, max_frame) {
        assert!(used >= 1 && used <= rest.len() && frame.len() < used);
        if let Ok(request) = Request::parse(frame) {
            let wire = request.encode();
            let (again, n) = split_frame(wire.as_bytes(), usize::MAX)
                .expect("encoded frames end in a newline")
                .expect("a complete frame");
            assert_eq!(n, wire.len());
            assert_eq!(Request::parse(again).as_ref(), Ok(&request));
        }
        rest = &rest[used..];
    }
    // Responses, as the client reads them.
    if let Ok(Some((response, used))) = Response::decode(data, max_frame) {
        assert!(used <= data.len());
        let wire = response.encode();
        let (again, n) = Response::decode(wire.as_bytes(), usize::MAX)
            .expect("encoded responses decode")
            .expect("complete");
        assert_eq!(n, wire.len());
        assert_eq!(again, response);
    }
});
