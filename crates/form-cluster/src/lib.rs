//! form-cluster (phase library).
