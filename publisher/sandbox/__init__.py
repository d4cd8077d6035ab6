"""Loopback stand-ins of the platforms (see shared PLATFORMS.md): they speak each platform's real
protocol, check auth and limits, record what arrived and inject faults on request."""
