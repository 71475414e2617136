using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Connections.Security;

namespace Orleans.AiFleet.Grains.Hosting;

/// <summary>
/// Mutual TLS on cluster mode's Orleans connections, through Orleans' own TLS middleware
/// (Microsoft.Orleans.Connections.Security): this process presents the operator's certificate, requires one from
/// every peer, and accepts a peer only when its certificate chains to the operator's CA. The one decision taken here
/// is that trust (<see cref="IsTrusted"/>); the handshake is SslStream's.
/// </summary>
internal sealed partial class ClusterTls
{
    private readonly X509Certificate2Collection _authorities;

    // Set once the host's services exist (see Log); the TLS options are built before that, when the builder runs.
    private ILogger _logger = NullLogger.Instance;

    private ClusterTls(X509Certificate2 certificate, X509Certificate2Collection authorities)
    {
        Certificate = certificate;
        _authorities = authorities;
    }

    /// <summary>What this process presents to its peers.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Loads the certificate and the CA; a file that cannot be used stops the start with a message naming its setting.</summary>
    public static ClusterTls Load(ClusterTlsOptions options)
    {
        var at = ClusterTlsOptions.SectionName;
        var certificate = Read($"{at}:CertificatePath", () => LoadCertificate(options));
        if (!certificate.HasPrivateKey)
        {
            throw Invalid($"{at}:CertificatePath '{options.CertificatePath}' holds no private key (a PEM certificate needs {at}:KeyPath)");
        }

        var authorities = Read($"{at}:CaCertificatePath", () =>
        {
            var pem = new X509Certificate2Collection();
            pem.ImportFromPemFile(options.CaCertificatePath!);
            return pem;
        });
        if (authorities.Count == 0)
        {
            throw Invalid($"{at}:CaCertificatePath '{options.CaCertificatePath}' holds no PEM certificate");
        }

        return new ClusterTls(certificate, authorities);
    }

    /// <summary>TLS on the silo's inbound silo and gateway connections and its outbound silo connections.</summary>
    public ISiloBuilder Secure(ISiloBuilder silo)
    {
        silo.Services.AddOptions<SiloConnectionOptions>().Configure<ILoggerFactory>((_, loggers) => Log(loggers));
        return silo.UseTls(Certificate, Configure);
    }

    /// <summary>TLS on the client's gateway connections.</summary>
    public IClientBuilder Secure(IClientBuilder client)
    {
        client.Services.AddOptions<ClientConnectionOptions>().Configure<ILoggerFactory>((_, loggers) => Log(loggers));
        return client.UseTls(Certificate, Configure);
    }

    /// <summary>
    /// Both directions require the peer's certificate (Orleans' default for the server side, made explicit here) and
    /// judge it by <see cref="IsTrusted"/>, never by the machine's trust store.
    /// </summary>
    private void Configure(TlsOptions tls)
    {
        tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        tls.RemoteCertificateValidation = IsTrusted;
    }

    /// <summary>
    /// Whether a peer's certificate chains to one of the operator's CAs, built afresh with those as the only roots
    /// (<see cref="X509ChainTrustMode.CustomRootTrust"/>). SslStream's own verdict is set aside: it judges by the
    /// system's roots and by host name, and cluster peers are reached by pod addresses no certificate names.
    /// </summary>
    internal bool IsTrusted(X509Certificate2 peer, X509Chain? presented, SslPolicyErrors errors)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // an operator's private CA publishes no revocation list
        foreach (var element in presented?.ChainElements.Skip(1) ?? [])
        {
            chain.ChainPolicy.ExtraStore.Add(element.Certificate); // intermediates the peer sent; trust still ends at the CA
        }

        if (chain.Build(peer))
        {
            return true;
        }

        var reasons = string.Join(", ", chain.ChainStatus.Select(s => s.Status).Distinct());
        LogRefused(_logger, peer.Subject, peer.Issuer, peer.Thumbprint, reasons);
        return false;
    }

    private void Log(ILoggerFactory loggers)
    {
        _logger = loggers.CreateLogger<ClusterTls>();
        LogOn(_logger, Certificate.Subject, Certificate.NotAfter, string.Join("; ", _authorities.Select(a => a.Subject)));
    }

    private static X509Certificate2 LoadCertificate(ClusterTlsOptions o)
    {
        if (string.IsNullOrWhiteSpace(o.KeyPath))
        {
            return X509CertificateLoader.LoadPkcs12FromFile(o.CertificatePath!, o.CertificatePassword);
        }

        return string.IsNullOrEmpty(o.CertificatePassword)
            ? X509Certificate2.CreateFromPemFile(o.CertificatePath!, o.KeyPath)
            : X509Certificate2.CreateFromEncryptedPemFile(o.CertificatePath!, o.CertificatePassword, o.KeyPath);
    }

    private static T Read<T>(string setting, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is CryptographicException or IOException or ArgumentException)
        {
            throw Invalid($"{setting} could not be read: {e.Message}");
        }
    }

    private static OptionsValidationException Invalid(string failure) =>
        new(ClusterTlsOptions.SectionName, typeof(ClusterTlsOptions), [failure]);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster TLS on: presenting {Subject} (valid until {NotAfter:u}); peers must chain to {Authorities}")]
    private static partial void LogOn(ILogger logger, string subject, DateTime notAfter, string authorities);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a cluster peer's certificate {Subject} (issuer {Issuer}, thumbprint {Thumbprint}): {Reasons}")]
    private static partial void LogRefused(ILogger logger, string subject, string issuer, string thumbprint, string reasons);
}
