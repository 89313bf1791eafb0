// Package config parses and validates the plugin configuration: one pure
// function, Parse, from the bytes Envoy or Higress hands the plugin (JSON or
// YAML, Higress ai-proxy field names) to a Config, or an error that lists
// every problem with its field path. It knows providers and failover
// settings, and nothing of Envoy or shared data.
package config
