//! The rehearsal lab.
