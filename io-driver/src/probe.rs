//! Start-up probe: does this kernel offer what the io_uring backend needs?
//! Needed: kernel 6.1+ (multishot accept and recv, provided buffer rings, single issuer,
//! cooperative and deferred task running), not disabled by `kernel.io_uring_disabled`.

use io_uring::{opcode, IoUring, Probe};

/// The probe's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UringSupport {
    Supported,
    /// What is missing, in words for the operator.
    Missing(String),
}

fn kernel_version() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Checks kernel version, ring set-up with our flags, the opcodes we use, and buffer-ring
/// registration.
pub fn probe_uring() -> UringSupport {
    match kernel_version() {
        Some(v) if v >= (6, 1) => {}
        Some((a, b)) => return UringSupport::Missing(format!("kernel {a}.{b} is older than 6.1")),
        None => return UringSupport::Missing("cannot read the kernel version".into()),
    }
    if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        if s.trim() == "2" {
            return UringSupport::Missing(
                "io_uring is disabled (kernel.io_uring_disabled = 2)".into(),
            );
        }
    }
    let ring = match IoUring::builder()
        .setup_single_issuer()
        .setup_coop_taskrun()
        .setup_defer_taskrun()
        .build(8)
    {
        Ok(r) => r,
        Err(e) => {
            return UringSupport::Missing(format!(
                "io_uring_setup with single-issuer/defer-taskrun failed: {e}"
            ))
        }
    };
    if !ring.params().is_feature_ext_arg() {
        return UringSupport::Missing("IORING_FEAT_EXT_ARG is missing".into());
    }
    let mut probe = Probe::new();
    if let Err(e) = ring.submitter().register_probe(&mut probe) {
        return UringSupport::Missing(format!("opcode probe failed: {e}"));
    }
    let needed = [
        (opcode::AcceptMulti::CODE, "ACCEPT"),
        (opcode::RecvMulti::CODE, "RECV"),
        (opcode::Send::CODE, "SEND"),
        (opcode::PollAdd::CODE, "POLL_ADD"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    ];
    for (code, name) in needed {
        if !probe.is_supported(code) {
            return UringSupport::Missing(format!("opcode IORING_OP_{name} is not supported"));
        }
    }
    match crate::bufring::BufRing::new(&ring, 2, 512, 0) {
        Ok(bufs) => {
            let _ = ring.submitter().unregister_buf_ring(bufs.group);
            UringSupport::Supported
        }
        Err(e) => UringSupport::Missing(format!("provided buffer ring registration failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_gives_a_verdict_with_a_reason() {
        // On a kernel with io_uring enabled the probe passes; elsewhere the reason must say why.
        match probe_uring() {
            UringSupport::Supported => {}
            UringSupport::Missing(why) => assert!(!why.is_empty()),
        }
    }
}
