// SPDX-License-Identifier: MIT
/* The CPU 2D renderer: every resource is a pixman image in host memory. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <pixman.h>

#include <vgi/log.h>

#include "virtio-gpu-renderer.h"

/* Copies at least this big bypass the cache (they cannot stay in it anyway). */
#define STREAM_MIN (4u << 20)

/* virtio-gpu formats are byte orders in memory; their DRM fourccs name the same bits as pixman's words. */
static pixman_format_code_t pixman_format(uint32_t virtio_format)
{
	return (pixman_format_code_t)vgi_format_to_pixman(vgi_format_from_virtio_gpu(virtio_format));
}

static uint32_t r2d_create_2d(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res)
{
	pixman_format_code_t fmt = pixman_format(res->virtio_format);
	uint64_t stride = (uint64_t)res->width * 4, bytes = stride * res->height;
	pixman_image_t *img;

	if (!fmt)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	/* pixman takes int sizes and an int stride */
	if (stride > INT_MAX || res->height > INT_MAX || !vgi_gpu_hostmem_charge(r->gpu, bytes))
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	img = pixman_image_create_bits(fmt, (int)res->width, (int)res->height, NULL, (int)stride);
	if (!img) {
		vgi_gpu_hostmem_release(r->gpu, bytes);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	res->hostmem += bytes;
	res->priv = img;
	return 0;
}

static void r2d_destroy_resource(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res)
{
	if (res->priv)
		pixman_image_unref(res->priv);
	res->priv = NULL;
}

static uint32_t r2d_transfer(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, const struct vgi_rect *rect,
			     uint64_t offset)
{
	pixman_image_t *img = res->priv;
	uint8_t *dst = (uint8_t *)pixman_image_get_data(img);
	size_t stride = (size_t)pixman_image_get_stride(img);
	size_t row = (size_t)rect->width * 4;
	bool ok = true;

	if (!img)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	dst += (size_t)rect->y * stride + (size_t)rect->x * 4;
	if (rect->width == res->width) {
		/* whole rows: both sides contiguous, one copy through the runs */
		size_t bytes = stride * rect->height;

		ok = vgi_gpu_backing_read(res, offset, dst, bytes, bytes >= STREAM_MIN);
	} else {
		ok = vgi_gpu_backing_read_rows(res, offset, stride, row, rect->height, dst, stride);
	}
	/* the core checked the range against the backing: failing here is a bug */
	return ok ? 0 : VIRTIO_GPU_RESP_ERR_UNSPEC;
}

static bool r2d_get_image(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, struct vgi_image *out)
{
	pixman_image_t *img = res->priv;

	if (!img)
		return false;
	out->width = res->width;
	out->height = res->height;
	out->stride = (uint32_t)pixman_image_get_stride(img);
	out->format = res->fourcc;
	out->data = pixman_image_get_data(img);
	out->stable = true;	/* the image lives as long as the resource, which leaves scanouts first */
	return true;
}

static bool r2d_cursor_image(struct vgi_gpu_renderer *r, struct vgi_gpu_resource *res, uint32_t *pixels)
{
	pixman_image_t *img = res->priv, *src, *dst;
	pixman_format_code_t fmt;

	if (!img || res->width != VGI_CURSOR_SIZE || res->height != VGI_CURSOR_SIZE)
		return false;
	/*
	 * Cursor words carry alpha even in an X format: Linux creates every
	 * dumb buffer, cursors included, as XRGB8888. Read the same bits
	 * through the matching alpha format, as QEMU passes the raw words.
	 */
	fmt = pixman_image_get_format(img);
	switch (fmt) {
	case PIXMAN_x8r8g8b8: fmt = PIXMAN_a8r8g8b8; break;
	case PIXMAN_b8g8r8x8: fmt = PIXMAN_b8g8r8a8; break;
	case PIXMAN_x8b8g8r8: fmt = PIXMAN_a8b8g8r8; break;
	case PIXMAN_r8g8b8x8: fmt = PIXMAN_r8g8b8a8; break;
	default: break;
	}
	src = pixman_image_create_bits(fmt, VGI_CURSOR_SIZE, VGI_CURSOR_SIZE, pixman_image_get_data(img),
				       pixman_image_get_stride(img));
	dst = pixman_image_create_bits(PIXMAN_a8r8g8b8, VGI_CURSOR_SIZE, VGI_CURSOR_SIZE, pixels,
				       VGI_CURSOR_SIZE * 4);
	if (src && dst)
		pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, dst, 0, 0, 0, 0, 0, 0, VGI_CURSOR_SIZE,
					 VGI_CURSOR_SIZE);
	if (src)
		pixman_image_unref(src);
	if (dst)
		pixman_image_unref(dst);
	return src && dst;
}

static void r2d_destroy(struct vgi_gpu_renderer *r)
{
	free(r);
}

static const struct vgi_gpu_renderer_ops r2d_ops = {
	.name = "2d",
	.destroy = r2d_destroy,
	.resource_create_2d = r2d_create_2d,
	.resource_destroy = r2d_destroy_resource,
	.transfer_to_host_2d = r2d_transfer,
	.get_image = r2d_get_image,
	.cursor_image = r2d_cursor_image,
};

struct vgi_gpu_renderer *vgi_gpu_renderer_2d_new(struct vgi_gpu *gpu)
{
	struct vgi_gpu_renderer *r = calloc(1, sizeof(*r));

	if (!r) {
		vgi_error("virtio-gpu: out of memory");
		return NULL;
	}
	r->ops = &r2d_ops;
	r->gpu = gpu;
	return r;
}
