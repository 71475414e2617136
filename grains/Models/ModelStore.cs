using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Orleans.AiFleet.Grains.Models;

/// <summary>
/// An uploaded model version: its SHA-256 (hex), size, optional config overrides (JSON of the serving fields a
/// version may change) and optional reference profile (JSON, see DriftProfile).
/// </summary>
public sealed record StoredVersion(string Model, string Version, string Sha256, long Bytes, string? ConfigJson, string? ProfileJson, DateTimeOffset UploadedAt);

/// <summary>
/// Where uploaded versions live so that every silo can load them and they outlive any silo: the repository folder in
/// the embedded default (<see cref="FolderModelStore"/>), PostgreSQL in cluster mode (<see cref="PostgresModelStore"/>).
/// </summary>
public interface IModelStore
{
    /// <summary>Stores a version whose ONNX file is at <paramref name="onnxFile"/> (its hash already taken).</summary>
    Task SaveAsync(StoredVersion version, string onnxFile, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<StoredVersion>> ListAsync(string? model = null, CancellationToken cancellationToken = default);

    /// <summary>A local path of the version's ONNX file, fetched once per content hash; null when the version is not stored.</summary>
    Task<string?> MaterializeAsync(StoredVersion version, CancellationToken cancellationToken = default);

    Task DeleteAsync(string model, string version, CancellationToken cancellationToken = default);
}

/// <summary>Hashing a file as it is written.</summary>
public static class ModelFiles
{
    public static string Sha256Hex(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

/// <summary>
/// The embedded default's store: an uploaded version is a version folder of the repository like a shipped one
/// (<c>model.onnx</c>, <c>profile.json</c>) plus <c>upload.json</c> (hash, size, overrides), so it is served after a
/// restart by the same scan that finds shipped versions.
/// </summary>
public sealed class FolderModelStore(IOptions<ModelRepositoryOptions> options) : IModelStore
{
    public const string UploadFile = "upload.json";

    private string Root => options.Value.Resolve() ?? throw new DirectoryNotFoundException(options.Value.Path);

    public async Task SaveAsync(StoredVersion version, string onnxFile, CancellationToken cancellationToken = default)
    {
        var folder = Path.Combine(Root, version.Model, version.Version);
        Directory.CreateDirectory(folder);
        File.Copy(onnxFile, Path.Combine(folder, "model.onnx"), overwrite: true);
        if (version.ProfileJson is { } profile)
        {
            await File.WriteAllTextAsync(Path.Combine(folder, "profile.json"), profile, cancellationToken);
        }

        await File.WriteAllTextAsync(Path.Combine(folder, UploadFile), JsonSerializer.Serialize(version), cancellationToken);
    }

    public async Task<IReadOnlyList<StoredVersion>> ListAsync(string? model = null, CancellationToken cancellationToken = default)
    {
        var found = new List<StoredVersion>();
        var models = model is null ? Directory.EnumerateDirectories(Root) : [Path.Combine(Root, model)];
        foreach (var folder in models.Where(Directory.Exists).SelectMany(Directory.EnumerateDirectories))
        {
            var upload = Path.Combine(folder, UploadFile);
            if (File.Exists(upload) && JsonSerializer.Deserialize<StoredVersion>(await File.ReadAllTextAsync(upload, cancellationToken)) is { } stored)
            {
                found.Add(stored);
            }
        }

        return found;
    }

    public Task<string?> MaterializeAsync(StoredVersion version, CancellationToken cancellationToken = default)
    {
        var path = Path.Combine(Root, version.Model, version.Version, "model.onnx");
        return Task.FromResult(File.Exists(path) ? path : null);
    }

    public Task DeleteAsync(string model, string version, CancellationToken cancellationToken = default)
    {
        var folder = Path.Combine(Root, model, version);
        if (File.Exists(Path.Combine(folder, UploadFile)))
        {
            Directory.Delete(folder, recursive: true); // only uploaded versions: a shipped one has no upload.json
        }

        return Task.CompletedTask;
    }
}

/// <summary>
/// Cluster mode's store: one row per version in <c>aifleet_model_versions</c> (db/002_model_versions.sql, also
/// created on first use when missing), the ONNX file as <c>bytea</c>. Each silo fetches a version once into a local
/// cache named by its content hash, so a version's bytes are downloaded once per silo whatever its name.
/// </summary>
public sealed class PostgresModelStore(string connectionString) : IModelStore
{
    // Only when the table is missing: PostgreSQL checks CREATE on the schema even for CREATE TABLE IF NOT EXISTS on a
    // table that exists, and the least-privilege roles of k8s/postgres/roles.sql have no CREATE.
    private const string Schema = """
        DO $$ BEGIN
            IF to_regclass('aifleet_model_versions') IS NULL THEN
                CREATE TABLE IF NOT EXISTS aifleet_model_versions (
                    model text NOT NULL, version text NOT NULL, sha256 text NOT NULL, bytes bigint NOT NULL,
                    config text NULL, profile text NULL, uploaded_at timestamptz NOT NULL, onnx bytea NOT NULL,
                    PRIMARY KEY (model, version));
            END IF;
        END $$;
        """;

    private static readonly string Cache = Path.Combine(Path.GetTempPath(), "aifleet-model-cache");
    private readonly SemaphoreSlim _schema = new(1, 1);
    private bool _schemaReady;

    public async Task SaveAsync(StoredVersion version, string onnxFile, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "INSERT INTO aifleet_model_versions (model, version, sha256, bytes, config, profile, uploaded_at, onnx) VALUES (@m, @v, @h, @b, @c, @p, @u, @o) " +
            "ON CONFLICT (model, version) DO UPDATE SET sha256 = @h, bytes = @b, config = @c, profile = @p, uploaded_at = @u, onnx = @o", connection);
        Bind(command, version);
        command.Parameters.AddWithValue("o", await File.ReadAllBytesAsync(onnxFile, cancellationToken));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<StoredVersion>> ListAsync(string? model = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "SELECT model, version, sha256, bytes, config, profile, uploaded_at FROM aifleet_model_versions WHERE @m::text IS NULL OR model = @m", connection);
        command.Parameters.AddWithValue("m", (object?)model ?? DBNull.Value);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var found = new List<StoredVersion>();
        while (await reader.ReadAsync(cancellationToken))
        {
            found.Add(new StoredVersion(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetFieldValue<DateTimeOffset>(6)));
        }

        return found;
    }

    public async Task<string?> MaterializeAsync(StoredVersion version, CancellationToken cancellationToken = default)
    {
        var path = Path.Combine(Cache, $"{version.Sha256}.onnx");
        if (File.Exists(path))
        {
            return path;
        }

        await using var connection = await OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT onnx FROM aifleet_model_versions WHERE model = @m AND version = @v AND sha256 = @h", connection);
        command.Parameters.AddWithValue("m", version.Model);
        command.Parameters.AddWithValue("v", version.Version);
        command.Parameters.AddWithValue("h", version.Sha256);
        if (await command.ExecuteScalarAsync(cancellationToken) is not byte[] onnx)
        {
            return null;
        }

        Directory.CreateDirectory(Cache);
        var partial = $"{path}.{Guid.NewGuid():N}.part";
        await File.WriteAllBytesAsync(partial, onnx, cancellationToken);
        File.Move(partial, path, overwrite: true); // whole or not at all, even with two fetches at once
        return path;
    }

    public async Task DeleteAsync(string model, string version, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("DELETE FROM aifleet_model_versions WHERE model = @m AND version = @v", connection);
        command.Parameters.AddWithValue("m", model);
        command.Parameters.AddWithValue("v", version);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static void Bind(NpgsqlCommand command, StoredVersion version)
    {
        command.Parameters.AddWithValue("m", version.Model);
        command.Parameters.AddWithValue("v", version.Version);
        command.Parameters.AddWithValue("h", version.Sha256);
        command.Parameters.AddWithValue("b", version.Bytes);
        command.Parameters.AddWithValue("c", (object?)version.ConfigJson ?? DBNull.Value);
        command.Parameters.AddWithValue("p", (object?)version.ProfileJson ?? DBNull.Value);
        command.Parameters.AddWithValue("u", version.UploadedAt);
    }

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        if (!_schemaReady)
        {
            await _schema.WaitAsync(cancellationToken);
            try
            {
                if (!_schemaReady)
                {
                    await using var create = new NpgsqlCommand(Schema, connection);
                    await create.ExecuteNonQueryAsync(cancellationToken);
                    _schemaReady = true;
                }
            }
            finally
            {
                _schema.Release();
            }
        }

        return connection;
    }
}
