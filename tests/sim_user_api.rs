//! The "use it for your own workload" example of docs/crash-testing.md, as a test: a user's
//! invariant (a transfer written as one batch is all-or-nothing) checked at every crash image.

use daxkv::media::{Event, MemoryMedium};
use daxkv::sim::{draw, CrashModel, Persistence, Rng, Strategy};
use daxkv::{Db, Options, WriteBatch};

#[test]
fn a_users_invariant_holds_at_every_crash_image() {
    for model in [CrashModel::Adr, CrashModel::Eadr, CrashModel::parse("pagecache").unwrap()] {
        let capacity = 16 << 20;
        let options = Options::default().flush(model.flush_model()).max_file_bytes(capacity);
        let db =
            Db::open_medium(MemoryMedium::new(model.flush_model(), capacity, [1; 16], true), options.clone()).unwrap();
        db.put(b"balance:alice", b"100").unwrap();
        db.put(b"balance:bob", b"100").unwrap();
        for amount in 1..=5u32 {
            let mut transfer = WriteBatch::new();
            transfer.put(b"balance:alice", (100 - amount * 10).to_string().as_bytes());
            transfer.put(b"balance:bob", (100 + amount * 10).to_string().as_bytes());
            db.write(transfer).unwrap();
        }
        let trace = db.medium().take_trace();
        db.abandon();

        let mut persistence = Persistence::new(model, Vec::new());
        let mut rng = Rng::new(42);
        let mut images = 0;
        for event in &trace {
            if matches!(event, Event::Flush { .. } | Event::Fence) {
                let units = persistence.in_flight();
                for fates in draw(&persistence, &units, &Strategy::default(), &mut rng) {
                    let image = persistence.image(&units, &fates);
                    let medium =
                        MemoryMedium::from_image(&image, model.flush_model(), capacity, [0; 16], false).unwrap();
                    let db = Db::open_medium(medium, options.clone()).unwrap();
                    let read = |key: &[u8]| {
                        db.get(key).unwrap().map(|v| String::from_utf8(v.to_vec()).unwrap().parse::<u32>().unwrap())
                    };
                    match (read(b"balance:alice"), read(b"balance:bob")) {
                        (Some(alice), Some(bob)) => {
                            assert_eq!(alice + bob, 200, "{} money not conserved", model.name())
                        }
                        (alice, None) => {
                            assert!(alice.is_none() || alice == Some(100), "{}: bob missing after alice", model.name())
                        }
                        (None, Some(_)) => panic!("{}: bob without alice", model.name()),
                    }
                    db.abandon();
                    images += 1;
                }
                persistence.settle();
            }
            persistence.apply(event);
        }
        assert!(images > 10, "{}: only {images} images", model.name());
    }
}
