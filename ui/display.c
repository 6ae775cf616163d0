// SPDX-License-Identifier: MIT
#include <drm_fourcc.h>
#include <pixman.h>
#include <linux/virtio_gpu.h>

#include <vgi/display.h>

uint32_t vgi_format_from_virtio_gpu(uint32_t virtio_format)
{
	switch (virtio_format) {
	case VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM: return DRM_FORMAT_ARGB8888;
	case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM: return DRM_FORMAT_XRGB8888;
	case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM: return DRM_FORMAT_BGRA8888;
	case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM: return DRM_FORMAT_BGRX8888;
	case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM: return DRM_FORMAT_ABGR8888;
	case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM: return DRM_FORMAT_RGBX8888;
	case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM: return DRM_FORMAT_RGBA8888;
	case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM: return DRM_FORMAT_XBGR8888;
	default: return 0;
	}
}

uint32_t vgi_format_to_pixman(uint32_t fourcc)
{
	/* both name 32-bit words on a little-endian host, highest channel first in pixman's */
	switch (fourcc) {
	case DRM_FORMAT_ARGB8888: return PIXMAN_a8r8g8b8;
	case DRM_FORMAT_XRGB8888: return PIXMAN_x8r8g8b8;
	case DRM_FORMAT_BGRA8888: return PIXMAN_b8g8r8a8;
	case DRM_FORMAT_BGRX8888: return PIXMAN_b8g8r8x8;
	case DRM_FORMAT_ABGR8888: return PIXMAN_a8b8g8r8;
	case DRM_FORMAT_XBGR8888: return PIXMAN_x8b8g8r8;
	case DRM_FORMAT_RGBA8888: return PIXMAN_r8g8b8a8;
	case DRM_FORMAT_RGBX8888: return PIXMAN_r8g8b8x8;
	default: return 0;
	}
}

bool vgi_rect_clip(struct vgi_rect *r, uint32_t width, uint32_t height)
{
	uint64_t x2 = (uint64_t)r->x + r->width, y2 = (uint64_t)r->y + r->height;

	if (r->x >= width || r->y >= height || r->width == 0 || r->height == 0)
		return false;
	if (x2 > width)
		x2 = width;
	if (y2 > height)
		y2 = height;
	r->width = (uint32_t)(x2 - r->x);
	r->height = (uint32_t)(y2 - r->y);
	return true;
}
