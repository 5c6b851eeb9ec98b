//! Pure parsers of command output and Proxmox file formats (unit-tested on real layouts).
