//! Entry points for the `fuzz/` crate (built only with `--cfg fuzzing`).
//!
//! [`session_and_switch`]: arbitrary bytes from a controller, cut into
//! arbitrary chunks, through an established [`Session`]; every message it
//! passes on goes to a fresh [`Switch`] over a small in-memory dataplane,
//! PROG_LOAD chunks through the connection's assembler, loader and
//! installer. Nothing may panic, and every reply must encode.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dataplane::pipeline::Snapshot;
use dataplane::port::Port;
use dataplane::port::mem::{MemConfig, MemPort};
use dataplane::worker::{Dataplane, DataplaneConfig};

use crate::programs::{self, ChunkAssembler, Programs};
use crate::role::ConnId;
use crate::session::{Event, Session, SessionConfig};
use crate::switch::{Effects, Switch, SwitchSettings};

fn dataplane() -> Arc<Dataplane> {
    static DP: OnceLock<Arc<Dataplane>> = OnceLock::new();
    DP.get_or_init(|| {
        let ports = (1..=2u32)
            .map(|no| {
                (
                    no,
                    Port::Mem(MemPort::new(&format!("f{no}"), &MemConfig::default()).0),
                )
            })
            .collect();
        let cfg = DataplaneConfig {
            n_workers: 1,
            pin: false,
            ..DataplaneConfig::default()
        };
        Arc::new(
            Dataplane::start(&cfg, ports, Snapshot::empty(1, 4, 1, &[1, 2]))
                .expect("fuzz dataplane"),
        )
    })
    .clone()
}

/// See the module docs.
pub fn session_and_switch(data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let mut session = Session::new(SessionConfig::default(), now);
    // An OpenFlow 1.3 HELLO first, so the rest meets an established session.
    session.handle_input(now, &[4, 0, 0, 8, 0, 0, 0, 1]);
    let mut sw = Switch::new(
        SwitchSettings {
            n_tables: 4,
            ..SwitchSettings::default()
        },
        dataplane(),
        Arc::new(Mutex::new(Programs::new())),
    );
    let conn = ConnId(1);
    sw.connect(conn);
    let mut chunks = ChunkAssembler::default();
    let step = usize::from(cut).max(1);
    let mut t = now;
    for piece in rest.chunks(step) {
        t += Duration::from_millis(10);
        session.handle_input(t, piece);
        while let Some(ev) = session.poll_event() {
            let Event::Message(msg) = ev else { continue };
            let mut fx = Effects::default();
            if let Some(p) = programs::as_prog_load(&msg) {
                if let Ok(Some(c)) = p.and_then(|p| chunks.feed(&p)) {
                    let old = sw.programs().lock().ok().and_then(|r| r.get(c.prog_id));
                    if let Ok(prog) = programs::load(&c, old.as_deref(), 1) {
                        let _ =
                            programs::install(&mut sw, msg.xid, c.prog_id, c.flags, prog, &mut fx);
                    }
                }
            } else {
                sw.handle(conn, &msg, &mut fx);
            }
            for m in fx.replies.iter().chain(fx.broadcast.iter()) {
                let _ = session.send(m);
            }
            sw.publish();
        }
        while session.poll_transmit().is_some() {}
    }
    session.handle_timeout(t + Duration::from_secs(30));
    while session.poll_event().is_some() {}
}
