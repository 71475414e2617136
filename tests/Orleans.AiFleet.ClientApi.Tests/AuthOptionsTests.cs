using Microsoft.Extensions.Configuration;
using Orleans.AiFleet.ClientApi.Auth;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>An unchanged deploy must not start with a public placeholder admin key.</summary>
public sealed class AuthOptionsTests
{
    [Theory]
    [InlineData("change-me-to-a-long-random-admin-key")]
    [InlineData("CHANGEME-CHANGEME-CHANGEME")]
    [InlineData("<put-a-long-random-key-here>")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaa")]
    public void Validate_PlaceholderAdminKey_Fails_NamingTheSetting(string key)
    {
        var result = new AuthOptionsValidator().Validate(null, new AuthOptions { AdminKey = key });

        Assert.True(result.Failed);
        Assert.Contains("AiFleet:Auth:AdminKey", result.FailureMessage);
    }

    [Fact]
    public void Validate_ARandomAdminKey_Passes()
    {
        var result = new AuthOptionsValidator().Validate(null, new AuthOptions { AdminKey = "3f9c1e0b7a6d45c2b8e1f0a9d7c6b5a4" });

        Assert.True(result.Succeeded);
    }

    [Theory]
    [InlineData("urls", "http://0.0.0.0:8080", false)]
    [InlineData("urls", "http://127.0.0.1:5080;http://+:8080", false)]
    [InlineData("Kestrel:Endpoints:Http:Url", "http://*:80", false)]
    [InlineData("urls", "http://127.0.0.1:5080", true)]
    [InlineData("urls", "http://localhost:5080;http://[::1]:5081", true)]
    public void Validate_NoAdminKey_IsAllowedOnlyOnLoopback(string setting, string url, bool allowed)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [setting] = url }).Build();

        var result = new AuthOptionsValidator(configuration).Validate(null, new AuthOptions());

        Assert.Equal(allowed, result.Succeeded);
        if (!allowed)
        {
            Assert.Contains("must be set when HTTP listens beyond loopback", result.FailureMessage);
        }
    }
}
