# GraniteSpeechConfig(): the encoder's output width (encoder_config.hidden_dim = 1024) is not the
# width its Q-Former projector attends to (projector_config.encoder_hidden_size = 1408, Blip-2's
# default): the default model cannot project its own audio features. Same for granite_speech_plus.
import torch, transformers
for cfg_name, cls_name in (("GraniteSpeechConfig", "GraniteSpeechForConditionalGeneration"),
                           ("GraniteSpeechPlusConfig", "GraniteSpeechPlusForConditionalGeneration")):
    cfg = getattr(transformers, cfg_name)(encoder_config={"num_layers": 2}, text_config={"num_hidden_layers": 2})
    print(cfg_name, "encoder hidden_dim:", cfg.encoder_config.hidden_dim,
          "projector encoder_hidden_size:", cfg.projector_config.encoder_hidden_size)
    with torch.device("meta"):
        m = getattr(transformers, cls_name)(cfg).eval()
        feats = torch.empty(1, 100, cfg.encoder_config.input_dim)
    try:
        m.get_audio_features(feats)
    except Exception as e:
        print("  ", type(e).__name__, e)
