"""Boot stage: QEMU command lines, initramfs, the BPF arena probe, console parsing."""
