//! Packet buffers for PACKET_IN (OpenFlow 1.3.5 §7.4.1, §7.3.7).
//!
//! A packet-in that asks for fewer bytes than the packet has keeps the
//! whole packet here under a `buffer_id`; a PACKET_OUT or FLOW_MOD naming
//! that id sends it on. The pool is bounded (FEATURES_REPLY `n_buffers`)
//! and entries expire, so a controller that never answers cannot exhaust
//! memory. Ids are never reused while an older packet with the same slot
//! could still be referenced: the id carries a generation above the slot
//! index, so a stale id is BUFFER_UNKNOWN, not someone else's packet.

use std::time::{Duration, Instant};

use openflow::message::OFP_NO_BUFFER as NO_BUFFER;

#[derive(Debug, Clone)]
struct Slot {
    id: u32,
    frame: Vec<u8>,
    in_port: u32,
    at: Instant,
}

/// The buffer pool.
#[derive(Debug)]
pub struct PacketBuffers {
    slots: Vec<Option<Slot>>,
    next: u32,
    timeout: Duration,
}

impl PacketBuffers {
    /// `n` buffers (0 disables buffering) held at most `timeout` each.
    pub fn new(n: u32, timeout: Duration) -> Self {
        Self {
            slots: (0..n.min(1 << 16)).map(|_| None).collect(),
            next: 0,
            timeout,
        }
    }

    /// Keeps `frame`; its id, or `None` when every buffer is in use.
    pub fn store(&mut self, frame: &[u8], in_port: u32) -> Option<u32> {
        let n = self.slots.len() as u32;
        if n == 0 {
            return None;
        }
        let now = Instant::now();
        for _ in 0..n {
            let id = self.next;
            self.next = self.next.wrapping_add(1);
            if id == NO_BUFFER {
                continue;
            }
            let slot = &mut self.slots[(id % n) as usize];
            let free = slot
                .as_ref()
                .is_none_or(|s| now.saturating_duration_since(s.at) >= self.timeout);
            if free {
                *slot = Some(Slot {
                    id,
                    frame: frame.to_vec(),
                    in_port,
                    at: now,
                });
                return Some(id);
            }
        }
        None
    }

    /// Takes the packet of `id` (frame and in_port), if it is still here.
    pub fn take(&mut self, id: u32) -> Option<(Vec<u8>, u32)> {
        let n = self.slots.len() as u32;
        if n == 0 || id == NO_BUFFER {
            return None;
        }
        let slot = &mut self.slots[(id % n) as usize];
        if slot.as_ref().is_some_and(|s| s.id == id) {
            slot.take().map(|s| (s.frame, s.in_port))
        } else {
            None
        }
    }

    /// Frees expired buffers.
    pub fn expire(&mut self, now: Instant) {
        for s in &mut self.slots {
            if s.as_ref()
                .is_some_and(|b| now.saturating_duration_since(b.at) >= self.timeout)
            {
                *s = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_take_once_and_stale_ids_are_unknown() {
        let mut b = PacketBuffers::new(2, Duration::from_secs(60));
        let a = b.store(b"a", 1).unwrap();
        let c = b.store(b"c", 2).unwrap();
        assert_eq!(b.store(b"x", 3), None, "full");
        assert_eq!(b.take(a), Some((b"a".to_vec(), 1)));
        assert_eq!(b.take(a), None, "taken once");
        let d = b.store(b"d", 4).unwrap();
        assert_ne!(d, a, "a new id for the reused slot");
        assert_eq!(b.take(a), None);
        assert_eq!(b.take(c), Some((b"c".to_vec(), 2)));
        assert_eq!(b.take(NO_BUFFER), None);
    }

    #[test]
    fn expiry_frees_slots() {
        let mut b = PacketBuffers::new(1, Duration::ZERO);
        let a = b.store(b"a", 1).unwrap();
        b.expire(Instant::now());
        assert_eq!(b.take(a), None);
        assert!(
            PacketBuffers::new(0, Duration::ZERO)
                .store(b"a", 1)
                .is_none()
        );
    }
}
