using System.Collections.Concurrent;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>Open WebSocket connections per user on this client-api, so one key cannot hold thousands open.</summary>
internal sealed class SocketConnections
{
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);

    /// <summary>Counts a new connection of <paramref name="user"/>, unless they already hold <paramref name="max"/>.</summary>
    public bool TryOpen(string user, int max)
    {
        while (true)
        {
            var now = _open.GetValueOrDefault(user);
            if (now >= max)
            {
                return false;
            }

            if (now == 0 ? _open.TryAdd(user, 1) : _open.TryUpdate(user, now + 1, now))
            {
                return true;
            }
        }
    }

    /// <summary>Counts a connection of <paramref name="user"/> closed; a user with none leaves no entry behind.</summary>
    public void Close(string user)
    {
        while (true)
        {
            var now = _open[user];
            if (now == 1 ? _open.TryRemove(new KeyValuePair<string, int>(user, 1)) : _open.TryUpdate(user, now - 1, now))
            {
                return;
            }
        }
    }
}
