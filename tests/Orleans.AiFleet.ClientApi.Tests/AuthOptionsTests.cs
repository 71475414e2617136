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
}
