package vendor

import (
	"context"
	"net/http"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

func pathMetrics(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "metrics",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "vendor",
			OperationSuffix: "metrics",
		},
		Fields: map[string]*framework.FieldSchema{
			"format": {
				Type:          framework.TypeString,
				Description:   `"prometheus" for the Prometheus text exposition format (version 0.0.4) as the raw response body; empty or "json" for the same figures as JSON data.`,
				AllowedValues: []any{"json", "prometheus"},
				Query:         true,
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     b.pathMetricsRead,
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "read"},
				Responses: map[int][]framework.Response{
					http.StatusOK: {{
						Description: "The figures as JSON; with format=prometheus, the text exposition format instead.",
						Fields: map[string]*framework.FieldSchema{
							"cached_tokens":         {Type: framework.TypeInt, Description: "Tokens cached on this node and not yet expired."},
							"mints":                 {Type: framework.TypeMap, Description: "Token mints: {vendor: {outcome: count}}."},
							"mint_duration_seconds": {Type: framework.TypeMap, Description: "Mint latency histogram: {vendor: {count, sum, buckets: {le: cumulative count}}}."},
							"token_reads":           {Type: framework.TypeMap, Description: "Token reads: {vendor: {source: count}}."},
							"rotations":             {Type: framework.TypeMap, Description: "Rotations: {vendor: {trigger: {outcome: count}}}."},
						},
					}},
				},
			},
		},
		HelpSynopsis:    "Counters of mints, token reads and rotations, by vendor, for monitoring.",
		HelpDescription: metricsHelp,
	}}
}

const metricsHelp = `
Counters of this mount's vendor calls, token reads and rotations:

  vault read vendor/metrics                     JSON data
  vault read -format=raw vendor/metrics format=prometheus
  GET /v1/vendor/metrics?format=prometheus      Prometheus text (version 0.0.4)

The figures are this node's since the plugin started (each node of a cluster
counts its own), for this mount:

  vault_vendor_mints_total{vendor,outcome}       counter
      outcome: ok, refused (the vendor said no), invalid, held (the logon
      guard held it back, no call), or the failure class: timeout,
      connection_refused, network_error, tls_error, 5xx, 429, bad_response
  vault_vendor_mint_duration_seconds{vendor}     histogram
      time of the mints that called the vendor, buckets 5ms to 30s
  vault_vendor_token_reads_total{vendor,source}  counter
      source: cache (a fresh cached token), wait (the read waited for a
      mint), stale (an older token handed out while a mint runs or after one
      failed), error
  vault_vendor_rotations_total{vendor,trigger,outcome}  counter
      trigger: manual, scheduled, recovery; outcome: ok, undone, failed, lost
  vault_vendor_cached_tokens                     gauge
      tokens cached and not yet expired

A series appears once it has counted something. Labels hold registered
vendor names and the fixed values above ("other" for anything else), never a
role name: ten thousand roles make no more series than one. The JSON data
holds the same figures: cached_tokens, mints {vendor: {outcome: n}},
mint_duration_seconds {vendor: {count, sum, buckets: {le: n}}}, token_reads
{vendor: {source: n}} and rotations {vendor: {trigger: {outcome: n}}}.
Who may read them is for Vault policy to say.

A read is refused with a 400 when format is neither json nor prometheus, or
when it carries any other parameter.
`

func (b *backend) pathMetricsRead(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	switch format := d.Get("format").(string); format {
	case "", "json":
		return &logical.Response{Data: b.metrics.json()}, nil
	case "prometheus":
		// As sys/metrics does: Vault's HTTP layer writes a raw body when
		// the data holds a status code.
		return &logical.Response{Data: map[string]any{
			logical.HTTPContentType: prometheusContentType,
			logical.HTTPRawBody:     b.metrics.prometheus(),
			logical.HTTPStatusCode:  http.StatusOK,
		}}, nil
	default:
		return logical.ErrorResponse(`format %q is not known: give "prometheus" for the Prometheus text format, or leave it out for JSON`, clipText(format, 100)), nil
	}
}
