//! Prints every network namespace of the host, named or not, as it appears and goes.
//!
//! Run as root: `cargo run --example inventory`, then `unshare -n sleep 5` elsewhere.

use nsmon::{Inventory, InventoryEvent, InventoryOptions};

fn main() -> Result<(), nsmon::Error> {
    let mut inventory = Inventory::new(InventoryOptions::new())?;
    loop {
        inventory.wait(None)?;
        while let Some(event) = inventory.next()? {
            match event {
                InventoryEvent::Appeared { ns } => println!(
                    "+ id {:?} inode {} names {:?} pids {:?} threads {:?} fds {:?}",
                    ns.id.id, ns.id.ino, ns.names, ns.pids, ns.threads, ns.fds
                ),
                InventoryEvent::Gone { id } => println!("- id {:?} inode {}", id.id, id.ino),
                InventoryEvent::NameAdded { id, path } => {
                    println!("  id {:?} named {}", id.id, path.display())
                }
                InventoryEvent::NameRemoved { id, path } => {
                    println!("  id {:?} no longer {}", id.id, path.display())
                }
                other => println!("  {other:?}"),
            }
        }
    }
}
