"""Other ways to write ``clip_zero_shot_classifier``: ``CORRECT`` (full marks) and ``WRONG`` (no
points); see ``tests.alternatives``."""

CORRECT = {
    "one-batch-and-softmax": """
@torch.no_grad()
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    pixels = torch.stack([clip_preprocess(Image.fromarray(im)) for im in images]).to(device)
    image_features = clip_model.encode_image(pixels, normalize=True)
    text_features = clip_model.encode_text(_clip_tokenize(clip_model, class_texts).to(device), normalize=True)
    probs = (100 * image_features @ text_features.T).softmax(dim=-1)
    return [class_texts[i] for i in probs.argmax(dim=-1).tolist()]
""",
    "loop-over-images": """
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    with torch.no_grad():
        texts = clip_model.encode_text(_clip_tokenize(clip_model, class_texts).to(device))
        texts = texts / texts.norm(dim=-1, keepdim=True)
        out = []
        for image in images:
            feature = clip_model.encode_image(clip_preprocess(Image.fromarray(image))[None].to(device))
            feature = feature / feature.norm(dim=-1, keepdim=True)
            out.append(class_texts[int((feature @ texts.T).argmax())])
    return out
""",
    "texts-one-at-a-time-float64-max-indices": """
@torch.no_grad()
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    texts = torch.cat([clip_model.encode_text(_clip_tokenize(clip_model, [c]).to(device)) for c in class_texts]).double()
    feats = []
    for batch in [images[s:s + batch_size] for s in range(0, len(images), batch_size)]:
        pixels = torch.stack([clip_preprocess(Image.fromarray(np.asarray(im))) for im in batch]).to(device)
        feats.append(clip_model.encode_image(pixels).double())
    sims = get_similarity_no_loop(texts, torch.cat(feats))  # [C, M]
    return [class_texts[i] for i in sims.max(dim=0).indices.tolist()]
""",
    "numpy-argmax": """
@torch.no_grad()
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    feats = []
    for s in range(0, len(images), batch_size):
        pixels = torch.stack([clip_preprocess(Image.fromarray(im)) for im in images[s:s + batch_size]])
        feats.append(clip_model.encode_image(pixels.to(device)).cpu().numpy())
    image_features = np.concatenate(feats)
    text_features = clip_model.encode_text(_clip_tokenize(clip_model, class_texts).to(device)).cpu().numpy()
    image_features /= np.linalg.norm(image_features, axis=1, keepdims=True)
    text_features /= np.linalg.norm(text_features, axis=1, keepdims=True)
    return [class_texts[i] for i in np.argmax(image_features @ text_features.T, axis=1)]
""",
}

WRONG = {
    "argmax-over-the-wrong-axis": """
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    image_features = _encode_images(clip_model, clip_preprocess, images, device, batch_size)
    text_features = _encode_texts(clip_model, class_texts, device)
    similarity = get_similarity_no_loop(text_features, image_features)  # [C, M]
    return [class_texts[i] for i in similarity.argmax(dim=1).tolist()]  # one per class, not per image
""",
    "only-the-first-batch": """
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    image_features = _encode_images(clip_model, clip_preprocess, images[:batch_size], device, batch_size)
    text_features = _encode_texts(clip_model, class_texts, device)
    best = (image_features @ text_features.T).argmax(dim=1).tolist()
    return [class_texts[i] for i in best] + [class_texts[best[-1]]] * (len(images) - len(best))
""",
    "prompt-template": """
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    image_features = _encode_images(clip_model, clip_preprocess, images, device, batch_size)
    text_features = _encode_texts(clip_model, [f"a photo of a {c}" for c in class_texts], device)
    return [class_texts[i] for i in (image_features @ text_features.T).argmax(dim=1).tolist()]
""",
    "prompt-template-with-a-full-stop": """
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    image_features = _encode_images(clip_model, clip_preprocess, images, device, batch_size)
    text_features = _encode_texts(clip_model, ["a photo of a {}.".format(c) for c in class_texts], device)
    return [class_texts[i] for i in (image_features @ text_features.T).argmax(dim=1).tolist()]
""",
    "features-not-normalised": """
@torch.no_grad()
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    pixels = torch.stack([clip_preprocess(Image.fromarray(im)) for im in images]).to(device)
    texts = clip_model.encode_text(_clip_tokenize(clip_model, class_texts).to(device))
    return [class_texts[i] for i in (clip_model.encode_image(pixels) @ texts.T).argmax(dim=1).tolist()]
""",
}
