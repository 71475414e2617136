using System.Security.Cryptography;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.Caching.Distributed;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>
/// Browser sessions kept server-side, in the distributed cache: the cookie carries only a random id. Signing out
/// removes the session, so the same cookie replayed later is refused; a session ends by itself when its cookie would.
/// </summary>
internal sealed class SessionTicketStore(IDistributedCache cache, TimeProvider time) : ITicketStore
{
    private const string Prefix = "aifleet:session:";

    public async Task<string> StoreAsync(AuthenticationTicket ticket)
    {
        var id = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
        await RenewAsync(id, ticket);
        return id;
    }

    public Task RenewAsync(string key, AuthenticationTicket ticket)
    {
        var until = ticket.Properties.ExpiresUtc ?? time.GetUtcNow().AddHours(8);
        return cache.SetAsync(Prefix + key, TicketSerializer.Default.Serialize(ticket),
            new DistributedCacheEntryOptions { AbsoluteExpiration = until });
    }

    public async Task<AuthenticationTicket?> RetrieveAsync(string key) =>
        key.Length == 64 && await cache.GetAsync(Prefix + key) is { } bytes
            ? TicketSerializer.Default.Deserialize(bytes)
            : null;

    public Task RemoveAsync(string key) => cache.RemoveAsync(Prefix + key);
}
