//! One module per simulated command.
pub mod aptget;
pub mod misc;
pub mod pvecm;
pub mod pvenode;
pub mod pvesh;
pub mod pvesm;
pub mod pvesr;
pub mod qm;
pub mod systemctl;
pub mod zfs;
