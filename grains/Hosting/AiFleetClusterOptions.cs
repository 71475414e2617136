using System.Net;
using Microsoft.Extensions.Options;

namespace Orleans.AiFleet.Grains.Hosting;

/// <summary>
/// Cluster mode: membership in PostgreSQL (the project's schema in db/). Bound from <c>AiFleet:Cluster</c>
/// (env <c>AIFLEET__CLUSTER__POSTGRES</c>, ...). Without a PostgreSQL connection string the process runs the
/// embedded default instead.
/// </summary>
public sealed class AiFleetClusterOptions
{
    public const string SectionName = "AiFleet:Cluster";
    public const string DefaultClusterId = "aifleet";
    public const string DefaultServiceId = "aifleet";
    public const int DefaultSiloPort = 11111;
    public const int DefaultGatewayPort = 30000;

    /// <summary>Npgsql connection string of the membership database.</summary>
    public string? Postgres { get; set; }

    /// <summary>
    /// StackExchange.Redis configuration string of the grain state and reminder store (e.g. "127.0.0.1:6379"). Unset:
    /// state and reminders stay in each silo's memory and do not survive it.
    /// </summary>
    public string? Redis { get; set; }

    /// <summary>
    /// How long a call to the state store (Redis) may take before the request it serves fails with 503 and
    /// Retry-After. Short, so a hung store costs requests a second rather than pile them up.
    /// </summary>
    public TimeSpan StoreTimeout { get; set; } = DefaultStoreTimeout;

    public static readonly TimeSpan DefaultStoreTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often silos probe each other (Orleans' ProbeTimeout; its own default is 5 s). A silo that misses
    /// <see cref="MissedProbesLimit"/> probes in a row is voted dead and its grains move: with 1.5 s and 3, a kill -9'd
    /// silo is declared dead in about 3-4.5 s (the default took 10-15 s). A silo that is slow but alive is protected
    /// by Orleans' connection-liveness check and by probe periods that stretch on a loaded silo.
    /// </summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>Probes missed in a row before a silo is voted dead.</summary>
    public int MissedProbesLimit { get; set; } = 3;

    /// <summary>Silos and clients with the same cluster id form one cluster.</summary>
    public string ClusterId { get; set; } = DefaultClusterId;

    /// <summary>Stable across deployments: grain state and reminders are keyed by it.</summary>
    public string ServiceId { get; set; } = DefaultServiceId;

    public int SiloPort { get; set; } = DefaultSiloPort;

    public int GatewayPort { get; set; } = DefaultGatewayPort;

    /// <summary>The address other silos and clients reach this silo at (a pod IP in Kubernetes); loopback by default.</summary>
    public string AdvertisedAddress { get; set; } = IPAddress.Loopback.ToString();

    /// <summary>
    /// Whether this silo offers a GPU to models that prefer one (silo metadata gpu=true, read by replica placement).
    /// Unset: true when the loaded ONNX Runtime has the CUDA provider.
    /// </summary>
    public bool? Gpu { get; set; }

    /// <summary>Mutual TLS on the silo and gateway ports (<see cref="ClusterTlsOptions"/>).</summary>
    public ClusterTlsOptions Tls { get; set; } = new();

    public bool IsConfigured => !string.IsNullOrWhiteSpace(Postgres);
}

internal sealed class AiFleetClusterOptionsValidator : IValidateOptions<AiFleetClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, AiFleetClusterOptions o)
    {
        var errors = new List<string>();
        var at = AiFleetClusterOptions.SectionName;
        if (!o.IsConfigured)
        {
            errors.Add($"{at}:Postgres must be an Npgsql connection string for cluster mode");
        }

        if (string.IsNullOrWhiteSpace(o.ClusterId))
        {
            errors.Add($"{at}:ClusterId must not be empty");
        }

        if (string.IsNullOrWhiteSpace(o.ServiceId))
        {
            errors.Add($"{at}:ServiceId must not be empty");
        }

        if (o.SiloPort is < 1 or > 65535 || o.GatewayPort is < 1 or > 65535 || o.SiloPort == o.GatewayPort)
        {
            errors.Add($"{at}:SiloPort and GatewayPort must be two different ports in 1-65535 (were {o.SiloPort}, {o.GatewayPort})");
        }

        if (o.ProbeTimeout < TimeSpan.FromMilliseconds(200) || o.ProbeTimeout > TimeSpan.FromMinutes(1) || o.MissedProbesLimit is < 1 or > 10)
        {
            errors.Add($"{at}:ProbeTimeout must be from 200 ms to 1 min and MissedProbesLimit from 1 to 10 (were {o.ProbeTimeout}, {o.MissedProbesLimit})");
        }

        if (o.StoreTimeout < TimeSpan.FromMilliseconds(100) || o.StoreTimeout > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{at}:StoreTimeout must be from 100 ms to 1 min (was {o.StoreTimeout})");
        }

        if (!IPAddress.TryParse(o.AdvertisedAddress, out var advertised))
        {
            errors.Add($"{at}:AdvertisedAddress '{o.AdvertisedAddress}' is not an IP address");
        }
        else if (ClusterTlsOptionsValidator.RequireTlsOffLoopback(o.Tls, advertised) is { } missingTls)
        {
            errors.Add(missingTls);
        }

        var tls = new ClusterTlsOptionsValidator().Validate(null, o.Tls);
        if (tls.Failed)
        {
            errors.AddRange(tls.Failures);
        }

        return errors.Count > 0 ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }
}
