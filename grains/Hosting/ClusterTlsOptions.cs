using System.Net;
using Microsoft.Extensions.Options;

namespace Orleans.AiFleet.Grains.Hosting;

/// <summary>
/// Mutual TLS on cluster mode's Orleans connections (silo to silo, client to gateway), bound from
/// <c>AiFleet:Cluster:Tls</c> (env <c>AIFLEET__CLUSTER__TLS__CERTIFICATEPATH</c>, ...). Every silo and client-api
/// presents the operator's certificate, and each side accepts only a peer whose certificate chains to
/// <see cref="CaCertificatePath"/>: a process without such a certificate cannot open a connection, let alone call a
/// grain. Host names are not checked (pod addresses come and go): any certificate that CA issued is a cluster member,
/// so give the cluster a CA of its own.
/// </summary>
public sealed class ClusterTlsOptions
{
    public const string SectionName = AiFleetClusterOptions.SectionName + ":Tls";

    /// <summary>
    /// This process's certificate with its private key: a PKCS#12 file (.pfx, .p12), or a PEM certificate whose PEM
    /// private key is at <see cref="KeyPath"/>. Usable for both server and client authentication (no Extended Key
    /// Usage extension, or both serverAuth and clientAuth). Unset: no TLS.
    /// </summary>
    public string? CertificatePath { get; set; }

    /// <summary>The password of the PKCS#12 file, or of an encrypted PEM key. Unset: not encrypted.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>The PEM private key of a PEM <see cref="CertificatePath"/> (a Kubernetes TLS Secret's tls.key).</summary>
    public string? KeyPath { get; set; }

    /// <summary>
    /// PEM file of the certificate authority (or authorities, while one is being replaced) whose certificates peers
    /// must present. For one self-signed certificate shared by every process, that certificate itself.
    /// </summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>
    /// Lets a silo that advertises a non-loopback address run without TLS: its gateway then accepts any Orleans client
    /// that reaches the port. For local development only; a loopback silo needs no opt-out.
    /// </summary>
    public bool Insecure { get; set; }

    public bool IsConfigured => !string.IsNullOrWhiteSpace(CertificatePath);
}

/// <summary>The TLS settings on their own: files that exist, and nothing that contradicts itself.</summary>
internal sealed class ClusterTlsOptionsValidator : IValidateOptions<ClusterTlsOptions>
{
    public ValidateOptionsResult Validate(string? name, ClusterTlsOptions o)
    {
        var errors = new List<string>();
        var at = ClusterTlsOptions.SectionName;
        if (!o.IsConfigured)
        {
            if (!string.IsNullOrWhiteSpace(o.KeyPath) || !string.IsNullOrWhiteSpace(o.CaCertificatePath))
            {
                errors.Add($"{at}:KeyPath and {at}:CaCertificatePath need {at}:CertificatePath");
            }

            return errors.Count > 0 ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
        }

        if (o.Insecure)
        {
            errors.Add($"{at}:Insecure must not be set together with {at}:CertificatePath");
        }

        RequireFile(errors, $"{at}:CertificatePath", o.CertificatePath);
        if (!string.IsNullOrWhiteSpace(o.KeyPath))
        {
            RequireFile(errors, $"{at}:KeyPath", o.KeyPath);
        }

        if (string.IsNullOrWhiteSpace(o.CaCertificatePath))
        {
            errors.Add($"{at}:CaCertificatePath must name the PEM certificate of the CA that peers' certificates chain to");
        }
        else
        {
            RequireFile(errors, $"{at}:CaCertificatePath", o.CaCertificatePath);
        }

        return errors.Count > 0 ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }

    /// <summary>
    /// The rule that needs the silo's address: a silo reachable from other hosts runs with a certificate, unless
    /// <see cref="ClusterTlsOptions.Insecure"/> says otherwise.
    /// </summary>
    public static string? RequireTlsOffLoopback(ClusterTlsOptions o, IPAddress advertised) =>
        o.IsConfigured || o.Insecure || IPAddress.IsLoopback(advertised)
            ? null
            : $"{ClusterTlsOptions.SectionName}:CertificatePath must be set when {AiFleetClusterOptions.SectionName}:AdvertisedAddress " +
              $"({advertised}) is not a loopback address: without TLS any Orleans client reaching the gateway could call every grain " +
              $"(set {ClusterTlsOptions.SectionName}:Insecure=true to run without it, for local development only)";

    private static void RequireFile(List<string> errors, string setting, string? path)
    {
        if (!File.Exists(path))
        {
            errors.Add($"{setting} '{path}' is not a file");
        }
    }
}
