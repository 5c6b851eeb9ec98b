//! State models of the simulated node (files under /etc/pve and /var/lib).
pub mod guests;
pub mod jobs;
pub mod replication;
pub mod storage;
pub mod zfs;
