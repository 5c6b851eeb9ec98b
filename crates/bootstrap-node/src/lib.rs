//! bootstrap-node (phase library).
