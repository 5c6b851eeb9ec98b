//! provision-iso (phase library).
