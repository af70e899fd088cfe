// Package config is the one configuration of `majlis serve`, for both roles
// (origin and edge): the Config struct, its defaults (Default), its ranges
// (Validate), and its binding to the outside, done once here for every
// setting.
//
// A setting is read, in rising precedence, from its default, the config
// file (--config FILE or MAJLIS_CONFIG; TOML, keys are the flag names), its
// environment variable (MAJLIS_<NAME>: the flag name upper-cased, '-' →
// '_'), and its flag:
//
//	Default() → file → MAJLIS_* → flags → Validate() → Config
//
// Load runs that chain; cmd/majlis only converts the result to the server's
// configs. WriteTOML prints a Config as a file Load reads back, with secrets
// redacted. Defaults owned by a package (the server's addresses, live's
// bitrate, room's seat limits) are that package's named constants, so each
// is written once.
package config
