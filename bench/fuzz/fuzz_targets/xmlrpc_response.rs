//! Koji's XML-RPC answers: a response body of any bytes is decoded (value or fault), split as
//! a multicall, and read as each record type the worker asks the hub for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odcs_worker::koji::model::{BuildInfo, Event, RpmInfo, TagInfo};
use odcs_worker::koji::wire::{read_multicall, read_response};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(Ok(value)) = read_response(body) else {
        return;
    };
    let _ = TagInfo::from_value(&value);
    let _ = Event::from_value(&value);
    let _ = BuildInfo::from_value(&value);
    let _ = RpmInfo::from_value(&value);
    for expected in [1, 2, 500] {
        if let Ok(outcomes) = read_multicall(value.clone(), expected) {
            for outcome in outcomes.into_iter().flatten() {
                let _ = BuildInfo::from_value(&outcome);
                let _ = RpmInfo::from_value(&outcome);
            }
        }
    }
});
