//! configure-storage (phase library).
