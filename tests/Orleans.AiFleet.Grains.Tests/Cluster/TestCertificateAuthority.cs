using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Tests.Cluster;

/// <summary>
/// A throwaway certificate authority made in-process (<see cref="CertificateRequest"/>), and the files an operator
/// would hand a process: its certificate (PKCS#12 or PEM) and the PEM of the CA its peers must chain to.
/// </summary>
internal sealed class TestCertificateAuthority : IDisposable
{
    private const string Password = "test-pfx-password";
    private readonly X509Certificate2 _certificate;
    private readonly string _folder = Directory.CreateTempSubdirectory("aifleet-tls-").FullName;

    public TestCertificateAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        CaCertificatePath = Path.Combine(_folder, "ca.crt");
        File.WriteAllText(CaCertificatePath, _certificate.ExportCertificatePem());
    }

    /// <summary>The PEM file of this CA's certificate: what <see cref="ClusterTlsOptions.CaCertificatePath"/> names.</summary>
    public string CaCertificatePath { get; }

    /// <summary>
    /// A certificate this CA issues to <paramref name="name"/> (server and client authentication, as silos are both),
    /// written as a password-protected PKCS#12 file, or as PEM certificate and key; the settings name those files and
    /// <paramref name="trusted"/>'s certificate as the peers' CA (this one unless another is given).
    /// </summary>
    public ClusterTlsOptions Issue(string name, bool pem = false, TestCertificateAuthority? trusted = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [Oid.FromOidValue("1.3.6.1.5.5.7.3.1", OidGroup.EnhancedKeyUsage), Oid.FromOidValue("1.3.6.1.5.5.7.3.2", OidGroup.EnhancedKeyUsage)], false));
        var serial = RandomNumberGenerator.GetBytes(16);
        using var issued = request.Create(_certificate, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(12), serial);
        using var withKey = issued.CopyWithPrivateKey(key);

        var options = new ClusterTlsOptions { CaCertificatePath = (trusted ?? this).CaCertificatePath };
        if (pem)
        {
            options.CertificatePath = Path.Combine(_folder, $"{name}.crt");
            options.KeyPath = Path.Combine(_folder, $"{name}.key");
            File.WriteAllText(options.CertificatePath, withKey.ExportCertificatePem());
            File.WriteAllText(options.KeyPath, key.ExportPkcs8PrivateKeyPem());
        }
        else
        {
            options.CertificatePath = Path.Combine(_folder, $"{name}.pfx");
            options.CertificatePassword = Password;
            File.WriteAllBytes(options.CertificatePath, withKey.Export(X509ContentType.Pkcs12, Password));
        }

        return options;
    }

    public void Dispose()
    {
        _certificate.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
