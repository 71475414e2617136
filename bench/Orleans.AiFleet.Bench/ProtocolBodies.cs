using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Google.Protobuf;
using GrpcMetadata = Grpc.Core.Metadata;
using Grpc.Net.Client;
using Orleans.AiFleet.Grpc.Inference;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// The same KServe requests as JSON bodies and binary-extension bodies (for wrk) and as length-prefixed gRPC messages
/// with raw tensors (for h2load), each checked once against the running server with a client generated from the shipped proto.
/// Usage: <c>protocol-bodies &lt;folder&gt; &lt;grpc url&gt; &lt;key&gt;</c>; bench/protocols.sh runs it.
/// </summary>
internal static class ProtocolBodies
{
    /// <summary>Workloads on the shipped text encoder: one short sentence, and a batch of eight 64-token ones.</summary>
    private static readonly (string Name, int Rows, int Tokens)[] Workloads = [("encoder-1x14", 1, 14), ("encoder-8x64", 8, 64)];

    public static async Task<string> RunAsync(string[] args)
    {
        var (folder, grpc, key) = (args[1], args[2], args[3]);
        Directory.CreateDirectory(folder);
        using var channel = GrpcChannel.ForAddress(grpc);
        var client = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var headers = new GrpcMetadata { { "authorization", $"Bearer {key}" } };
        foreach (var (name, rows, tokens) in Workloads)
        {
            var ids = new long[rows * tokens];
            for (var i = 0; i < ids.Length; i++)
            {
                ids[i] = i % tokens == 0 ? 2 : i % tokens == tokens - 1 ? 3 : 50 + (i % 40);
            }

            var mask = Enumerable.Repeat(1L, ids.Length).ToArray();
            long[] shape = [rows, tokens];
            await File.WriteAllTextAsync(Path.Combine(folder, name + ".json"), JsonSerializer.Serialize(new
            {
                inputs = new object[]
                {
                    new { name = "input_ids", shape, datatype = "INT64", data = ids },
                    new { name = "attention_mask", shape, datatype = "INT64", data = mask },
                },
                outputs = new[] { new { name = "sentence_embedding" } },
            }));

            // The binary extension over HTTP: a JSON header (its length in a file beside it), then the raw tensors.
            var binaryHeader = System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
            {
                parameters = new { binary_data_output = true },
                inputs = new object[]
                {
                    new { name = "input_ids", shape, datatype = "INT64", parameters = new { binary_data_size = ids.Length * 8 } },
                    new { name = "attention_mask", shape, datatype = "INT64", parameters = new { binary_data_size = mask.Length * 8 } },
                },
                outputs = new[] { new { name = "sentence_embedding" } },
            }));
            await File.WriteAllBytesAsync(Path.Combine(folder, name + ".bin"), [.. binaryHeader, .. MemoryMarshal.AsBytes(ids.AsSpan()), .. MemoryMarshal.AsBytes(mask.AsSpan())]);
            await File.WriteAllTextAsync(Path.Combine(folder, name + ".bin.len"), binaryHeader.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));

            var request = new ModelInferRequest { ModelName = "text-encoder", Outputs = { new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "sentence_embedding" } } };
            foreach (var (input, values) in new[] { ("input_ids", ids), ("attention_mask", mask) })
            {
                var tensor = new ModelInferRequest.Types.InferInputTensor { Name = input, Datatype = "INT64" };
                tensor.Shape.AddRange(shape);
                request.Inputs.Add(tensor);
                request.RawInputContents.Add(ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())));
            }

            var reply = await client.ModelInferAsync(request, headers);
            if (reply.RawOutputContents.Count != 1 || reply.RawOutputContents[0].Length != rows * 64 * 4)
            {
                throw new InvalidOperationException($"{name}: unexpected gRPC answer {reply}");
            }

            // gRPC's framing: a compressed flag (0), the message length (big-endian), the message.
            var message = request.ToByteArray();
            var framed = new byte[5 + message.Length];
            BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)message.Length);
            message.CopyTo(framed, 5);
            await File.WriteAllBytesAsync(Path.Combine(folder, name + ".grpc"), framed);
        }

        return string.Join(' ', Workloads.Select(w => w.Name));
    }
}
