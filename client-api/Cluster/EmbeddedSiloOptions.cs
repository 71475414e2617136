using Microsoft.Extensions.Options;

namespace Orleans.AiFleet.ClientApi.Cluster;

/// <summary>The in-process silo of the embedded default. Bound from <c>AiFleet:Embedded</c>.</summary>
public sealed class EmbeddedSiloOptions
{
    public const string SectionName = "AiFleet:Embedded";
    public const int DefaultSiloPort = 11111;
    public const int DefaultGatewayPort = 30000;

    /// <summary>Silo-to-silo port on localhost.</summary>
    public int SiloPort { get; set; } = DefaultSiloPort;

    /// <summary>Client gateway port on localhost.</summary>
    public int GatewayPort { get; set; } = DefaultGatewayPort;
}

internal sealed class EmbeddedSiloOptionsValidator : IValidateOptions<EmbeddedSiloOptions>
{
    public ValidateOptionsResult Validate(string? name, EmbeddedSiloOptions options)
    {
        var errors = new List<string>();
        if (options.SiloPort is < 1 or > 65535)
        {
            errors.Add($"{EmbeddedSiloOptions.SectionName}:SiloPort must be 1-65535 (was {options.SiloPort})");
        }

        if (options.GatewayPort is < 1 or > 65535)
        {
            errors.Add($"{EmbeddedSiloOptions.SectionName}:GatewayPort must be 1-65535 (was {options.GatewayPort})");
        }

        if (options.SiloPort == options.GatewayPort)
        {
            errors.Add($"{EmbeddedSiloOptions.SectionName}: SiloPort and GatewayPort must differ");
        }

        return errors.Count > 0 ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }
}
