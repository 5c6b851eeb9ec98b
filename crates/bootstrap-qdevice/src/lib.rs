//! bootstrap-qdevice (phase library).
