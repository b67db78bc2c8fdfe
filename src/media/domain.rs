//! Which persistence domain the device behind a file belongs to, read from sysfs.
//!
//! The kernel reports it per NVDIMM region: `/sys/bus/nd/devices/region*/persistence_domain`
//! holds `cpu_cache` (eADR: the CPU caches are flushed on power failure), `memory_controller`
//! (ADR: lines must be written back) or nothing. A file's block device (`st_dev`) leads to it:
//! `/sys/dev/block/<major>:<minor>` links to the device's directory, which lies below its
//! namespace and region (`…/ndbus0/region0/namespace0.0/block/pmem0[/pmem0p1]`), so the first
//! ancestor holding a `persistence_domain` file is the region. Anything else (tmpfs, a virtio
//! disk, device-mapper over pmem, no sysfs) is [`PersistenceDomain::Unknown`]: never eADR.

use std::path::Path;

use super::config::PersistenceDomain;

/// Directories climbed from the block device towards its region (a real path has about 8).
const ANCESTORS_MAX: usize = 32;

/// The persistence domain of the device with number `device` (a file's `st_dev`).
pub(super) fn of_device(device: u64) -> PersistenceDomain {
    of_device_under(Path::new("/sys"), device)
}

/// [`of_device`] against a sysfs mounted at `sys` (tests give a fake tree).
pub(super) fn of_device_under(sys: &Path, device: u64) -> PersistenceDomain {
    let (major, minor) = split_device_number(device);
    let link = sys.join("dev/block").join(format!("{major}:{minor}"));
    let Ok(device_directory) = std::fs::canonicalize(&link) else { return PersistenceDomain::Unknown };
    for directory in device_directory.ancestors().take(ANCESTORS_MAX) {
        if directory == sys || !directory.starts_with(sys) {
            break;
        }
        match std::fs::read_to_string(directory.join("persistence_domain")) {
            Ok(text) => return parse(&text),
            Err(_) => continue,
        }
    }
    PersistenceDomain::Unknown
}

/// What a `persistence_domain` file says.
fn parse(text: &str) -> PersistenceDomain {
    match text.trim() {
        "cpu_cache" => PersistenceDomain::CpuCache,
        "memory_controller" => PersistenceDomain::MemoryController,
        _ => PersistenceDomain::Unknown,
    }
}

/// glibc's `major()` / `minor()` of a 64-bit device number.
fn split_device_number(device: u64) -> (u64, u64) {
    let major = ((device >> 8) & 0xfff) | ((device >> 32) & !0xfff);
    let minor = (device & 0xff) | ((device >> 12) & !0xff);
    (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysfs: a pmem partition below its namespace and region, and a virtio disk.
    fn fake_sys(domain: &str) -> tempfile::TempDir {
        let sys = tempfile::tempdir().expect("temp dir");
        let region = sys.path().join("devices/platform/ACPI0012:00/ndbus0/region0");
        let disk = region.join("namespace0.0/block/pmem0");
        std::fs::create_dir_all(disk.join("pmem0p1")).expect("tree");
        std::fs::write(region.join("persistence_domain"), domain).expect("domain");
        let virtio = sys.path().join("devices/pci0000:00/virtio1/block/vda");
        std::fs::create_dir_all(&virtio).expect("tree");
        std::fs::create_dir_all(sys.path().join("dev/block")).expect("tree");
        let link = |name: &str, target: &Path| {
            std::os::unix::fs::symlink(target, sys.path().join("dev/block").join(name)).expect("link")
        };
        link("259:0", &disk);
        link("259:1", &disk.join("pmem0p1"));
        link("254:0", &virtio);
        sys
    }

    fn number(major: u64, minor: u64) -> u64 {
        ((major & 0xfff) << 8) | ((major & !0xfff) << 32) | (minor & 0xff) | ((minor & !0xff) << 12)
    }

    #[test]
    fn a_pmem_device_and_its_partition_find_their_region() {
        let sys = fake_sys("cpu_cache\n");
        assert_eq!(split_device_number(number(259, 1)), (259, 1));
        assert_eq!(of_device_under(sys.path(), number(259, 0)), PersistenceDomain::CpuCache);
        assert_eq!(of_device_under(sys.path(), number(259, 1)), PersistenceDomain::CpuCache);
        let sys = fake_sys("memory_controller\n");
        assert_eq!(of_device_under(sys.path(), number(259, 1)), PersistenceDomain::MemoryController);
    }

    #[test]
    fn anything_else_is_unknown() {
        let sys = fake_sys("\n");
        assert_eq!(of_device_under(sys.path(), number(259, 0)), PersistenceDomain::Unknown, "no domain declared");
        assert_eq!(of_device_under(sys.path(), number(254, 0)), PersistenceDomain::Unknown, "a virtio disk");
        assert_eq!(of_device_under(sys.path(), number(0, 42)), PersistenceDomain::Unknown, "tmpfs: no block device");
    }
}
