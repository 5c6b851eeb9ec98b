//! Facts and resources engine (see DESIGN.md "The engine").
