using System.Net.Http.Headers;

namespace Orleans.AiFleet.Tests;

/// <summary>The bootstrap admin key the test hosts are configured with, and a way to present keys.</summary>
internal static class TestKeys
{
    public const string Admin = "test-admin-key-0123456789abcdef";

    /// <summary>Sends <paramref name="key"/> as the bearer token on every request of <paramref name="http"/>.</summary>
    public static HttpClient WithKey(this HttpClient http, string key)
    {
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }
}
