using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>
/// Failed keys and failed sign-ins per client address (after forwarded headers, so the address a TLS ingress saw):
/// past <see cref="AuthOptions.FailedAttemptsPerMinute"/> in a minute, an address gets 429 for keys this client-api
/// has not already seen valid, and no key of its is looked up in the cluster, so guessing keys stops paying.
/// </summary>
internal sealed class AuthFailureThrottle : IDisposable
{
    /// <summary>The marker a throttled request carries to its challenge, which then answers 429.</summary>
    public const string ThrottledItem = "aifleet.auth.throttled";

    private readonly PartitionedRateLimiter<string> _failures;

    public AuthFailureThrottle(IOptions<AuthOptions> options)
    {
        var limit = options.Value.FailedAttemptsPerMinute;
        _failures = PartitionedRateLimiter.Create<string, string>(address => RateLimitPartition.GetFixedWindowLimiter(address,
            _ => new FixedWindowRateLimiterOptions { PermitLimit = limit, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
    }

    public static readonly TimeSpan RetryAfter = TimeSpan.FromMinutes(1);

    /// <summary>Whether the caller's address has used up its failed attempts for this minute.</summary>
    public bool IsThrottled(HttpContext http) => _failures.GetStatistics(Address(http))?.CurrentAvailablePermits == 0;

    /// <summary>Counts one failed attempt against the caller's address.</summary>
    public void Failed(HttpContext http) => _failures.AttemptAcquire(Address(http)).Dispose();

    public void Dispose() => _failures.Dispose();

    private static string Address(HttpContext http) => http.Connection.RemoteIpAddress?.ToString() ?? "unknown";
}
