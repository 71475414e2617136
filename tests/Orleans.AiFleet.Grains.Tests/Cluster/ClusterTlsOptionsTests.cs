using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Tests.Cluster;

/// <summary>Cluster mode refuses to start reachable and unauthenticated, and says which setting to fix.</summary>
public sealed class ClusterTlsOptionsTests
{
    private const string Postgres = "Host=127.0.0.1;Port=1;Username=none;Database=none";

    [Fact]
    public void Validate_NonLoopbackAddressWithoutCertificate_FailsNamingTheSettingAndTheOptOut()
    {
        var result = Validate(new AiFleetClusterOptions { Postgres = Postgres, AdvertisedAddress = "10.1.2.3" });

        var failure = Assert.Single(result.Failures ?? []);
        Assert.Contains("AiFleet:Cluster:Tls:CertificatePath must be set", failure, StringComparison.Ordinal);
        Assert.Contains("(10.1.2.3)", failure, StringComparison.Ordinal);
        Assert.Contains("AiFleet:Cluster:Tls:Insecure=true", failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1", false)]
    [InlineData("::1", false)]
    [InlineData("10.1.2.3", true)]
    public void Validate_LoopbackWithoutCertificate_OrAnExplicitOptOut_Passes(string address, bool insecure)
    {
        var result = Validate(new AiFleetClusterOptions { Postgres = Postgres, AdvertisedAddress = address, Tls = { Insecure = insecure } });

        Assert.True(result.Succeeded, string.Join("; ", result.Failures ?? []));
    }

    [Fact]
    public void Validate_CertificateSettings_NameEachMissingFileAndContradiction()
    {
        var tls = new ClusterTlsOptions { CertificatePath = "/nowhere/cluster.pfx", KeyPath = "/nowhere/cluster.key", Insecure = true };

        var failures = Validate(new AiFleetClusterOptions { Postgres = Postgres, AdvertisedAddress = "10.1.2.3", Tls = tls }).Failures ?? [];

        Assert.Equal(
            [
                "AiFleet:Cluster:Tls:Insecure must not be set together with AiFleet:Cluster:Tls:CertificatePath",
                "AiFleet:Cluster:Tls:CertificatePath '/nowhere/cluster.pfx' is not a file",
                "AiFleet:Cluster:Tls:KeyPath '/nowhere/cluster.key' is not a file",
                "AiFleet:Cluster:Tls:CaCertificatePath must name the PEM certificate of the CA that peers' certificates chain to",
            ],
            failures);
    }

    [Fact]
    public void Silo_OnANonLoopbackAddressWithoutCertificate_RefusesToStart()
    {
        var builder = Host.CreateApplicationBuilder();

        var refused = Assert.Throws<OptionsValidationException>(() =>
            builder.UseOrleans(silo => silo.AddAiFleet(new AiFleetClusterOptions { Postgres = Postgres, AdvertisedAddress = "10.1.2.3" })));

        Assert.Contains("AiFleet:Cluster:Tls:CertificatePath must be set", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_APemCertificateWithoutItsKey_FailsNamingTheSetting()
    {
        using var authority = new TestCertificateAuthority("Options test CA");
        var tls = authority.Issue("keyless", pem: true);
        tls.KeyPath = null;

        var refused = Assert.Throws<OptionsValidationException>(() => ClusterTls.Load(tls));

        Assert.Contains("AiFleet:Cluster:Tls:CertificatePath could not be read", refused.Message, StringComparison.Ordinal);
    }

    private static ValidateOptionsResult Validate(AiFleetClusterOptions options) => new AiFleetClusterOptionsValidator().Validate(null, options);
}
